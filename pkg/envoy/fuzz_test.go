package envoy_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/internal/teststate"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// FuzzGenerate builds small meshes from arbitrary YAML or JSON documents (the
// fixtures and their mutations), with every namespace named joining the mesh,
// and generates every identity's resources, and those of an identity outside
// the model. Generate must not panic, and what it returns must validate:
// Envoy's proto constraints and closed references.
//
// Run it with a short minimisation time, or the minimiser spends the whole
// budget shrinking a few-kilobyte YAML input:
//
//	go test ./pkg/envoy -run '^$' -fuzz FuzzGenerate -fuzztime 60s -fuzzminimizetime 1s
func FuzzGenerate(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "*.yaml"))
	var all []byte
	for _, p := range paths {
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
		m := catalog.Build(teststate.FromDocuments(data), mesh.Defaults())
		proxies := []identity.Identity{{Namespace: "outside", ServiceAccount: "nobody"}}
		for _, v := range m.Identities {
			if v.Identity.Namespace != "" && v.Identity.ServiceAccount != "" {
				proxies = append(proxies, v.Identity)
			}
		}
		for _, id := range proxies {
			r, err := envoy.Generate(m, envoy.Proxy{Identity: id})
			if err != nil {
				t.Fatalf("proxy %s: %v", id, err)
			}
			if err := r.Validate(); err != nil {
				t.Fatalf("proxy %s: %v", id, err)
			}
		}
	})
}
