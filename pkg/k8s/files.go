package k8s

import (
	"bufio"
	"bytes"
	"cmp"
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

	"github.com/fsnotify/fsnotify"
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
// cluster would make from them (PodsFromWorkloads), and Services whose
// EndpointSlices are not in the files get them from the Pods that have an IP
// (EndpointSlicesFromPods). A document that does not
// decode, or does not fit its kind, is listed in State.Rejected with its file;
// the other documents still count.
type FilesSource struct {
	// Paths are the folders and files to read, as one state (like repeated
	// `kubectl apply -f`).
	Paths []string
	// Options name the mesh.
	Options Options
	// QuietWindow and MaxDelay coalesce a burst of file events (an editor's
	// save, a `cp -r`) as ClusterSource coalesces API events; zero means the
	// defaults, DefaultQuietWindow and DefaultMaxDelay.
	QuietWindow, MaxDelay time.Duration
	// Clock defaults to the real clock.
	Clock clock.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
}

// Load reads the files once.
func (f *FilesSource) Load() (*State, error) {
	objs, rejected, err := f.Objects()
	if err != nil {
		return nil, err
	}
	return NewState(objs, f.Options, rejected), nil
}

// Objects reads the files once into every object they hold, of any
// namespace, with the Pods and EndpointSlices Load derives; Load keeps those
// the mesh reads. `weft policy check` looks up pods outside the mesh in them.
func (f *FilesSource) Objects() ([]runtime.Object, []Rejected, error) {
	paths, err := f.files()
	if err != nil {
		return nil, nil, err
	}
	var objs []runtime.Object
	var rejected []Rejected
	for _, p := range paths {
		o, r, err := readObjects(p)
		if err != nil {
			return nil, nil, err
		}
		objs = append(objs, o...)
		rejected = append(rejected, r...)
	}
	objs = append(objs, PodsFromWorkloads(objs)...)
	objs = append(objs, EndpointSlicesFromPods(objs)...)
	return objs, rejected, nil
}

// Run announces the files' state, then a new one after each burst of changes
// (a file added, removed or modified, by size or modification time) until ctx
// ends. It follows the files with fsnotify: every folder under Paths, and the
// folder of each file named in Paths (editors save by renaming a new file over
// the old one), so a folder created later is followed too. It returns an error
// when a path cannot be followed at the start.
func (f *FilesSource) Run(ctx context.Context, announce func(*State)) error {
	clk := f.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	log := f.Logger
	if log == nil {
		log = slog.Default()
	}
	watcher, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("following the state files: %w", err)
	}
	defer watcher.Close()
	if len(f.Paths) == 0 {
		return fmt.Errorf("no file or folder to read")
	}
	for _, p := range f.Paths {
		if err := watchPath(watcher, p); err != nil {
			return fmt.Errorf("following the state files: %w", err)
		}
	}
	changes := make(chan struct{}, 1)
	go forwardEvents(ctx, watcher, changes, log)

	var seen string
	reload := func() {
		fp, err := f.fingerprint()
		if err == nil && fp == seen {
			return
		}
		state, err := f.Load()
		if err != nil {
			log.Warn("reading the state files", "paths", f.Paths, "err", err)
			return
		}
		seen = fp
		announce(state)
	}
	reload()
	c := &Coalescer{Quiet: cmp.Or(f.QuietWindow, DefaultQuietWindow), MaxDelay: cmp.Or(f.MaxDelay, DefaultMaxDelay)}
	runCoalesced(ctx, clk, c, changes, reload)
	return ctx.Err()
}

// watchPath follows root: its folder and every folder under it (hidden ones
// skipped, as yamlFiles skips them), or, for a file, the folder holding it.
func watchPath(w *fsnotify.Watcher, root string) error {
	info, err := os.Stat(root)
	if err != nil {
		return err
	}
	if !info.IsDir() {
		return w.Add(filepath.Dir(root))
	}
	return filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return err
		}
		if p != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		return w.Add(p)
	})
}

// forwardEvents signals changes for every file event, and follows folders
// created under a followed one, until the watcher closes or ctx ends.
func forwardEvents(ctx context.Context, w *fsnotify.Watcher, changes chan<- struct{}, log *slog.Logger) {
	for {
		select {
		case <-ctx.Done():
			return
		case e, ok := <-w.Events:
			if !ok {
				return
			}
			if e.Has(fsnotify.Create) {
				if info, err := os.Stat(e.Name); err == nil && info.IsDir() && !strings.HasPrefix(info.Name(), ".") {
					if err := watchPath(w, e.Name); err != nil {
						log.Warn("following a new folder", "folder", e.Name, "err", err)
					}
				}
			}
			signal(changes)
		case err, ok := <-w.Errors:
			if !ok {
				return
			}
			// An overflow loses events: read the files again to be sure.
			log.Warn("following the state files", "err", err)
			signal(changes)
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
			// The chunk is one document: number it in the file, not in itself.
			r := Rejected{Reason: fmt.Sprintf("document %d: %v", doc, err)}
			if de := (*DocumentError)(nil); errors.As(err, &de) {
				r = Rejected{Kind: de.Kind, Namespace: de.Namespace, Name: de.Name, Reason: fmt.Sprintf("document %d: %v", doc, de.Err)}
			}
			rejected = append(rejected, r)
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
