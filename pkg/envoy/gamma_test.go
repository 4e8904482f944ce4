package envoy_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

var bookstoreFixtures = []string{"mesh.yaml", "bookstore.yaml", "access.yaml", "policies.yaml"}

// The acceptance case: a GAMMA HTTPRoute splitting 50/50 gives bookbuyer the
// very resources the equivalent TrafficSplit gives, in both flavours.
func TestGAMMARouteGivesTheSplitsWeightedClusters(t *testing.T) {
	for _, kind := range []envoy.ProxyKind{envoy.ProxySidecar, envoy.ProxyGRPC} {
		gen := func(extra string) *envoy.Resources {
			m := loadModel(t, append(bookstoreFixtures, extra)...)
			r, err := envoy.Generate(m, envoy.Proxy{Identity: bookbuyer, Kind: kind, Metrics: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Validate(); err != nil {
				t.Fatalf("generated resources do not validate:\n%v", err)
			}
			return r
		}
		route, split := gen("gamma-split.yaml"), gen("split-50.yaml")
		for _, c := range []struct {
			name      string
			got, want []proto.Message
		}{
			{"listeners", msgs(route.Listeners), msgs(split.Listeners)},
			{"routes", msgs(route.Routes), msgs(split.Routes)},
			{"clusters", msgs(route.Clusters), msgs(split.Clusters)},
			{"endpoints", msgs(route.Endpoints), msgs(split.Endpoints)},
		} {
			if len(c.got) != len(c.want) {
				t.Fatalf("%v %s: %d resources from the route, %d from the split", kind, c.name, len(c.got), len(c.want))
			}
			for i := range c.got {
				if !proto.Equal(c.got[i], c.want[i]) {
					t.Errorf("%v %s[%d] differ:\nroute: %v\nsplit: %v", kind, c.name, i, c.got[i], c.want[i])
				}
			}
		}
		// And the split is there: two clusters by weight.
		wc := weightedClusters(t, route.Routes)
		if len(wc) != 2 || wc["bookstore/bookstore-v1|14001"] != wc["bookstore/bookstore-v2|14001"] {
			t.Errorf("%v: weighted clusters %v, want v1 and v2 alike", kind, wc)
		}
	}
}

func msgs[T proto.Message](in []T) []proto.Message {
	out := make([]proto.Message, len(in))
	for i, m := range in {
		out[i] = m
	}
	return out
}

// weightedClusters finds the one weighted route among routes and returns its
// clusters' weights.
func weightedClusters(t *testing.T, rcs []*routev3.RouteConfiguration) map[string]uint32 {
	t.Helper()
	out := map[string]uint32{}
	for _, rc := range rcs {
		for _, vh := range rc.GetVirtualHosts() {
			for _, r := range vh.GetRoutes() {
				for _, c := range r.GetRoute().GetWeightedClusters().GetClusters() {
					out[c.GetName()] = c.GetWeight().GetValue()
				}
			}
		}
	}
	return out
}

func TestGAMMAGolden(t *testing.T) {
	for _, tt := range []struct {
		name, dir string
		fixtures  []string
		kind      envoy.ProxyKind
	}{
		{"matches, header modifiers and timeouts, in Gateway API's order", "gamma-routes",
			append(bookstoreFixtures, "gamma-routes.yaml"), envoy.ProxySidecar},
		{"proxyless: the same routes as gRPC takes them", "grpc-gamma-routes",
			append(bookstoreFixtures, "gamma-routes.yaml"), envoy.ProxyGRPC},
		{"a backend in another namespace, allowed by a ReferenceGrant", "gamma-grant",
			append(bookstoreFixtures, "gamma-far.yaml", "gamma-grant.yaml"), envoy.ProxySidecar},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := loadModel(t, tt.fixtures...)
			r, err := envoy.Generate(m, envoy.Proxy{Identity: bookbuyer, Kind: tt.kind, Metrics: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Validate(); err != nil {
				t.Fatalf("generated resources do not validate:\n%v", err)
			}
			checkGolden(t, tt.dir, "routes", goldenJSON(t, r.Routes))
			checkGolden(t, tt.dir, "clusters", goldenJSON(t, r.Clusters))
		})
	}
}

// Without the ReferenceGrant, the other namespace's backend is skipped
// (RefNotPermitted) and the route sends everything to the one left.
func TestGAMMABackendInAnotherNamespaceNeedsAReferenceGrant(t *testing.T) {
	m := buildTolerant(t, append(bookstoreFixtures, "gamma-far.yaml")...)
	if len(m.Problems) != 1 || !strings.Contains(m.Problems[0].String(), "RefNotPermitted") {
		t.Fatalf("problems %v, want one RefNotPermitted", m.Problems)
	}
	r, err := envoy.Generate(m, envoy.Proxy{Identity: bookbuyer})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("generated resources do not validate:\n%v", err)
	}
	for _, c := range r.Clusters {
		if strings.Contains(c.GetName(), "bookwarehouse") {
			t.Errorf("cluster %s planned without a ReferenceGrant", c.GetName())
		}
	}
	rc := named(t, r.Routes, "rds-outbound.14001", "routes")
	for _, vh := range rc.GetVirtualHosts() {
		if vh.GetName() != "outbound|bookstore/bookstore|14001" {
			continue
		}
		if got := vh.GetRoutes()[0].GetRoute().GetCluster(); got != "bookstore/bookstore-v1|14001" {
			t.Errorf("route to %q, want bookstore-v1 alone", got)
		}
		return
	}
	t.Fatalf("no virtual host for bookstore")
}

// buildTolerant is loadModel without failing on the catalog's problems.
func buildTolerant(t *testing.T, files ...string) *catalog.Model {
	t.Helper()
	var objs []runtime.Object
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("testdata", "fixtures", f))
		if err != nil {
			t.Fatal(err)
		}
		o, _ := k8s.DecodeObjects(data)
		objs = append(objs, o...)
	}
	objs = append(objs, k8s.PodsFromWorkloads(objs)...)
	cfg := mesh.Defaults()
	return catalog.Build(k8s.NewState(objs, k8s.OptionsFrom(cfg), nil), cfg)
}
