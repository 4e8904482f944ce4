// Package atomicfile replaces files whole: a reader sees the old content or
// the new, never a part. weftd's files mode uses it for what a cluster keeps
// in Secrets (proxyless workloads' folders, the ingress gateway's
// certificate).
package atomicfile

import (
	"errors"
	"os"
	"path/filepath"
)

// Write replaces dir/name with data, readable and writable by its owner
// only, by writing a hidden temporary file in dir and renaming it.
func Write(dir, name string, data []byte) error {
	tmp, err := os.CreateTemp(dir, "."+name+".*")
	if err != nil {
		return err
	}
	_, werr := tmp.Write(data)
	if err := errors.Join(werr, tmp.Close()); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Rename(tmp.Name(), filepath.Join(dir, name)); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return nil
}
