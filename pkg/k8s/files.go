package k8s

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/utils/clock"
)

// FilesSource reads the state from a folder (searched recursively) or a single
// file of multi-document YAML or JSON, as `kubectl apply -f` takes it. This is
// what `weft render` and the local demo run on.
//
// It applies the same rules as the cluster (NewState): only objects in
// namespaces labelled for the mesh count, so the folder must hold the Namespace
// objects too. Workloads (Deployments, StatefulSets...) stand in for the Pods a
// cluster would make from them (PodsFromWorkloads). A document that does not
// decode, or does not fit its kind, is listed in State.Rejected with its file;
// the other documents still count.
type FilesSource struct {
	// Paths are the folders and files to read, as one state (like repeated
	// `kubectl apply -f`).
	Paths []string
	// Options name the mesh.
	Options Options
	// PollInterval is how often Run looks for changed files; default 1s.
	PollInterval time.Duration
	// Clock defaults to the real clock.
	Clock clock.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Load reads the files once.
func (f *FilesSource) Load() (*State, error) {
	paths, err := f.files()
	if err != nil {
		return nil, err
	}
	var objs []runtime.Object
	var rejected []Rejected
	for _, p := range paths {
		o, r, err := readObjects(p)
		if err != nil {
			return nil, err
		}
		objs = append(objs, o...)
		rejected = append(rejected, r...)
	}
	objs = append(objs, PodsFromWorkloads(objs)...)
	return NewState(objs, f.Options, rejected), nil
}

// Run announces the files' state, then a new one whenever a file is added,
// removed or modified (by size or modification time), until ctx ends.
func (f *FilesSource) Run(ctx context.Context, announce func(*State)) error {
	clk := f.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	interval := f.PollInterval
	if interval <= 0 {
		interval = time.Second
	}
	log := f.Logger
	if log == nil {
		log = slog.Default()
	}
	var seen string
	for {
		fp, err := f.fingerprint()
		switch {
		case err != nil:
			log.Warn("reading the state files", "paths", f.Paths, "err", err)
		case fp != seen:
			state, err := f.Load()
			if err != nil {
				log.Warn("reading the state files", "paths", f.Paths, "err", err)
				break
			}
			seen = fp
			announce(state)
		}
		t := clk.NewTimer(interval)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C():
		}
	}
}

func (f *FilesSource) files() ([]string, error) {
	if len(f.Paths) == 0 {
		return nil, fmt.Errorf("no file or folder to read")
	}
	seen := map[string]bool{}
	var paths []string
	for _, root := range f.Paths {
		found, err := yamlFiles(root)
		if err != nil {
			return nil, err
		}
		for _, p := range found {
			if !seen[p] {
				seen[p] = true
				paths = append(paths, p)
			}
		}
	}
	return paths, nil
}

// yamlFiles lists root if it is a file, else the YAML and JSON files under it
// (skipping hidden folders), sorted.
func yamlFiles(root string) ([]string, error) {
	info, err := os.Stat(root)
	if err != nil {
		return nil, err
	}
	if !info.IsDir() {
		return []string{filepath.Clean(root)}, nil
	}
	var paths []string
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		switch strings.ToLower(filepath.Ext(p)) {
		case ".yaml", ".yml", ".json":
			if !d.IsDir() {
				paths = append(paths, filepath.Clean(p))
			}
		}
		return nil
	})
	slices.Sort(paths)
	return paths, err
}

// fingerprint changes when a file is added, removed, resized or touched.
func (f *FilesSource) fingerprint() (string, error) {
	paths, err := f.files()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range paths {
		info, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%s\x00%d\x00%d\n", p, info.Size(), info.ModTime().UnixNano())
	}
	return b.String(), nil
}

// readObjects decodes a file document by document, so that one bad document
// does not hide the others.
func readObjects(path string) ([]runtime.Object, []Rejected, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	objs, rejected := DecodeObjects(data)
	for i := range rejected {
		rejected[i].Source = path
	}
	return objs, rejected, nil
}

// DecodeObjects decodes multi-document YAML (or JSON) into typed objects of the
// kinds Scheme knows, skipping other kinds. Documents that do not decode or do
// not fit their kind are returned as Rejected instead; it never fails as a whole.
func DecodeObjects(data []byte) ([]runtime.Object, []Rejected) {
	var objs []runtime.Object
	var rejected []Rejected
	reader := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for doc := 1; ; doc++ {
		chunk, err := reader.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			rejected = append(rejected, Rejected{Reason: fmt.Sprintf("document %d: %v", doc, err)})
			break
		}
		us, err := DecodeYAML(bytes.NewReader(chunk))
		if err != nil {
			rejected = append(rejected, Rejected{Reason: fmt.Sprintf("document %d: %v", doc, err)})
			continue
		}
		for _, u := range us {
			o, err := Typed(u, nil)
			if err != nil {
				rejected = append(rejected, Rejected{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(),
					Reason: fmt.Sprintf("document %d: %v", doc, err)})
				continue
			}
			if o != nil {
				objs = append(objs, o)
			}
		}
	}
	return objs, rejected
}
