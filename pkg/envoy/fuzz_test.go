package envoy_test

import (
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weft-mesh/weft/catalog"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/k8s"
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
		m := catalog.Build(fuzzState(data))
		proxies := []catalog.Identity{{Namespace: "outside", Name: "nobody"}}
		for _, v := range m.Identities {
			if v.Identity.Namespace != "" && v.Identity.Name != "" {
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

// fuzzState decodes documents into a State in which every namespace named is
// monitored, as the catalog's own fuzz target does.
func fuzzState(data []byte) *k8s.State {
	objs, rejected := k8s.DecodeObjects(data)
	objs = append(objs, k8s.PodsFromWorkloads(objs)...)
	opts := k8s.DefaultOptions()
	seen := map[string]bool{}
	for _, o := range objs {
		meta, ok := o.(metav1.Object)
		if !ok {
			continue
		}
		if mc, ok := o.(*configv1alpha2.MeshConfig); ok {
			opts.MeshNamespace, opts.MeshConfigName = mc.Namespace, mc.Name
		}
		seen[meta.GetNamespace()] = true
	}
	for ns := range seen {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: ns, Labels: map[string]string{k8s.MonitoredByLabel: opts.MeshName}}})
	}
	return k8s.NewState(objs, opts, rejected)
}
