package testenv

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/pkg/k8s"
)

// Eventually polls cond until it holds, failing the test after a minute with
// what it waited for. Controllers and informers converge, so tests of them wait
// for a state rather than sleep.
func Eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ApplyFiles creates every object in the YAML files at paths (relative to the
// repository root; a folder means its .yaml files in name order), as
// `kubectl create -f` would, failing the test on the first error.
func (e *Env) ApplyFiles(t testing.TB, paths ...string) {
	t.Helper()
	for _, p := range paths {
		files := []string{filepath.Join(e.RepoRoot, p)}
		if info, err := os.Stat(files[0]); err == nil && info.IsDir() {
			entries, err := os.ReadDir(files[0])
			if err != nil {
				t.Fatal(err)
			}
			files = files[:0]
			for _, entry := range entries {
				if strings.HasSuffix(entry.Name(), ".yaml") {
					files = append(files, filepath.Join(e.RepoRoot, p, entry.Name()))
				}
			}
			sort.Strings(files)
		}
		for _, f := range files {
			objs, err := k8s.DecodeYAMLFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for _, obj := range objs {
				if err := e.Client.Create(context.Background(), obj); err != nil {
					t.Fatalf("%s: creating %s %s: %v", f, obj.GetKind(), obj.GetName(), err)
				}
			}
		}
	}
}
