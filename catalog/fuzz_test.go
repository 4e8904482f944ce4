package catalog_test

import (
	"os"
	"path/filepath"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/weft-mesh/weft/catalog"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s"
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
		state := fuzzState(data)
		m := catalog.Build(state)
		again := catalog.Build(state)
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

// fuzzState decodes documents into a State in which every namespace named is
// monitored, and the MeshConfig, if any, is read from whatever namespace holds it.
func fuzzState(data []byte) *k8s.State {
	objs, rejected := k8s.DecodeObjects(data)
	objs = append(objs, k8s.PodsFromWorkloads(objs)...)
	opts := k8s.Options{MeshName: "osm", MeshNamespace: "osm-system"}
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
			Name: ns, Labels: map[string]string{k8s.MonitoredByLabel: "osm"}}})
	}
	return k8s.NewState(append([]runtime.Object(nil), objs...), opts, rejected)
}
