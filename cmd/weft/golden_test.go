package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// runWeft runs the CLI with args and returns what it printed on stdout, and
// its error.
func runWeft(args ...string) (string, error) {
	var out, errOut bytes.Buffer
	cmd := newRootCommand()
	cmd.SetArgs(args)
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	return out.String(), err
}

// checkGolden compares got with testdata/<dir>/<name>.golden, or rewrites the
// file with -update. A rewritten golden is read in review, never accepted
// blindly.
func checkGolden(t *testing.T, dir, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", dir, name+".golden")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/weft -run %s -update to write it)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("the output differs from %s (run with -update and read the diff):\n--- want\n%s\n--- got\n%s", path, want, got)
	}
}

// withExit appends the command's error, as the user sees it, to its output.
func withExit(out string, err error) string {
	if err == nil {
		return out + "(exit 0)\n"
	}
	return out + "(exit 1: weft: " + strings.TrimSpace(err.Error()) + ")\n"
}

// commandLine is the command as a shell would take it, heading a golden file.
func commandLine(args []string) string {
	var quoted []string
	for _, a := range args {
		if strings.ContainsAny(a, " *|?()[]") {
			a = "'" + a + "'"
		}
		quoted = append(quoted, a)
	}
	return "$ weft " + strings.Join(quoted, " ") + "\n"
}
