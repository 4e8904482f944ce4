package envoy_test

import (
	"fmt"
	"sync"
	"testing"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/internal/teststate"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

func TestGeneratorSharesLoadAssignments(t *testing.T) {
	m := loadModel(t, "permissive.yaml", "bookstore.yaml")
	g := envoy.NewGenerator(m)
	byCluster := func(id identity.Identity) map[string]*endpointv3.ClusterLoadAssignment {
		t.Helper()
		r, err := g.Generate(envoy.Proxy{Identity: id})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*endpointv3.ClusterLoadAssignment{}
		for _, e := range r.Endpoints {
			out[e.GetClusterName()] = e
		}
		return out
	}
	store, buyer := byCluster(bookstore), byCluster(bookbuyer)
	const name = "bookstore/bookstore-v1|14001"
	if store[name] == nil || store[name] != buyer[name] {
		t.Errorf("bookstore and bookbuyer got ClusterLoadAssignments %p and %p for %s, want one shared", store[name], buyer[name], name)
	}
}

// TestGeneratorConcurrentGenerate generates every identity of a model from
// goroutines sharing one Generator (run it with -race): each gets what a
// Generator of its own gives it.
func TestGeneratorConcurrentGenerate(t *testing.T) {
	m := catalog.Build(teststate.Big(40, 3, 80, permissiveMeshConfig()), mesh.Defaults())
	want := map[identity.Identity]*envoy.Resources{}
	for _, v := range m.Identities {
		r, err := envoy.Generate(m, envoy.Proxy{Identity: v.Identity})
		if err != nil {
			t.Fatal(err)
		}
		want[v.Identity] = r
	}
	g := envoy.NewGenerator(m)
	var wg sync.WaitGroup
	errs := make(chan error, 4*len(m.Identities))
	for w := range 4 {
		wg.Go(func() {
			for i := range m.Identities {
				id := m.Identities[(i*(w+1)+w)%len(m.Identities)].Identity
				r, err := g.Generate(envoy.Proxy{Identity: id})
				if err != nil {
					errs <- err
					return
				}
				if diff := resourcesDiff(t, want[id], r); diff != "" {
					errs <- fmt.Errorf("identity %s: %s", id, diff)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkGenerateAllIdentities generates every identity of a mesh of 200
// Services and 1,000 pods (teststate.Big) with one Generator, as the xDS
// server does for a new model: "smi" with 400 TrafficTargets (each identity
// reaches a few Services), "permissive" where each reaches all 200.
func BenchmarkGenerateAllIdentities(b *testing.B) {
	for _, bc := range []struct {
		name  string
		extra []runtime.Object
	}{{"smi", nil}, {"permissive", []runtime.Object{permissiveMeshConfig()}}} {
		b.Run(bc.name, func(b *testing.B) {
			m := catalog.Build(teststate.Big(200, 5, 400, bc.extra...), mesh.Defaults())
			b.ReportAllocs()
			for b.Loop() {
				g := envoy.NewGenerator(m)
				for _, v := range m.Identities {
					if _, err := g.Generate(envoy.Proxy{Identity: v.Identity}); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}

func permissiveMeshConfig() *configv1alpha2.MeshConfig {
	return &configv1alpha2.MeshConfig{
		ObjectMeta: metav1.ObjectMeta{Name: configv1alpha2.DefaultMeshConfigName, Namespace: k8s.DefaultOptions().MeshNamespace},
		Spec:       configv1alpha2.MeshConfigSpec{Traffic: configv1alpha2.TrafficSpec{EnablePermissiveTrafficPolicyMode: true}},
	}
}
