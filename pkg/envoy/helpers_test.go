package envoy_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// loadModel builds the mesh model from fixture files, the way the files source
// does (workloads stand in for pods), and fails on any problem the catalog
// reports: a fixture that the catalog skips in part tests nothing.
func loadModel(t testing.TB, files ...string) *catalog.Model {
	t.Helper()
	return loadModelWith(t, mesh.Defaults(), files...)
}

// loadModelWith is loadModel in the mesh configuration cfg.
func loadModelWith(t testing.TB, cfg mesh.Config, files ...string) *catalog.Model {
	t.Helper()
	var objs []runtime.Object
	var rejected []k8s.Rejected
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("testdata", "fixtures", f))
		if err != nil {
			t.Fatal(err)
		}
		o, r := k8s.DecodeObjects(data)
		objs = append(objs, o...)
		rejected = append(rejected, r...)
	}
	objs = append(objs, k8s.PodsFromWorkloads(objs)...)
	m := catalog.Build(k8s.NewState(objs, k8s.OptionsFrom(cfg), rejected), cfg)
	for _, p := range m.Problems {
		t.Errorf("fixture problem: %s", p)
	}
	return m
}

// goldenJSON renders messages as one indented JSON array.
func goldenJSON[T proto.Message](t *testing.T, msgs []T) []byte {
	t.Helper()
	raws := []json.RawMessage{}
	for _, m := range msgs {
		b, err := protojson.MarshalOptions{UseProtoNames: true}.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		raws = append(raws, b)
	}
	return indentJSON(t, raws)
}

func indentJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}

// checkGolden compares got with testdata/<dir>/<name>.golden, or rewrites the
// file with -update. A rewritten golden is read in review, never accepted
// blindly.
func checkGolden(t *testing.T, dir, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", dir, name+".golden")
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./pkg/envoy -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the generated output (run go test ./pkg/envoy -update and read the diff):\n%s", path, firstDiff(want, got))
	}
}

// firstDiff shows the first differing line and a few around it.
func firstDiff(want, got []byte) string {
	w, g := bytes.Split(want, []byte("\n")), bytes.Split(got, []byte("\n"))
	for i := 0; i < max(len(w), len(g)); i++ {
		var wl, gl []byte
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if !bytes.Equal(wl, gl) {
			return "line " + itoa(i+1) + ":\n  want: " + string(wl) + "\n  got:  " + string(gl)
		}
	}
	return "(no line differs)"
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }
