// Package repo finds the module's checkout, for the programs and tests that
// build or read its files (make demo, end-to-end tests).
package repo

import (
	"errors"
	"os"
	"path/filepath"
)

// Root is the folder of the go.mod above the working directory.
func Root() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
