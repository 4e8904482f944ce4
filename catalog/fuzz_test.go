package catalog_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/internal/teststate"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// FuzzBuild feeds arbitrary YAML or JSON documents of any kind through the files
// source's decoding and the catalog. Every namespace an object names joins the
// mesh, so that the catalog reads every object. The catalog must not panic, must
// be deterministic, and a model must not differ from itself.
func FuzzBuild(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("..", "examples", "*", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	fixtures, _ := filepath.Glob(filepath.Join("testdata", "*.yaml"))
	var all []byte
	for _, p := range slices.Concat(paths, more, fixtures) {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
		all = append(all, "\n---\n"...)
		all = append(all, data...)
	}
	f.Add(all)
	f.Fuzz(func(t *testing.T, data []byte) {
		state := teststate.FromDocuments(data)
		m := catalog.Build(state, mesh.Defaults())
		again := catalog.Build(state, mesh.Defaults())
		if changed := m.ChangedIdentities(again); len(changed) != 0 {
			t.Fatalf("the same state gave different models for %v", changed)
		}
		for _, v := range m.Identities {
			if m.Identity(v.Identity) != v {
				t.Fatalf("identity %s is not indexed", v.Identity)
			}
			for _, o := range v.Outbound {
				if o.Service == nil || m.Service(o.Service.ServiceRef) != o.Service {
					t.Fatalf("identity %s reaches a service outside the model", v.Identity)
				}
				for _, be := range o.Backends {
					if be.Service == nil {
						t.Fatalf("identity %s has a split backend without a service", v.Identity)
					}
				}
			}
		}
		for _, p := range m.Problems {
			_ = p.String()
		}
	})
}
