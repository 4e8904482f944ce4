package catalog_test

import (
	"net/netip"
	"path/filepath"
	"slices"
	"testing"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// The bookstore story read from examples/ by the files source, as `weft render`
// reads it.
func TestExamplesThroughTheFilesSource(t *testing.T) {
	src := &k8s.FilesSource{Paths: []string{filepath.Join("..", "examples"), filepath.Join("testdata", "ingress-nginx-endpoints.yaml")}, Options: k8s.DefaultOptions()}
	s, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rejected) > 0 {
		t.Fatalf("examples not read: %+v", s.Rejected)
	}
	m := catalog.Build(s, mesh.Defaults())
	buyer, store, thief, warehouse := id("bookbuyer", "bookbuyer"), id("bookstore", "bookstore"), id("bookthief", "bookthief"), id("bookwarehouse", "bookwarehouse")

	t.Run("the MeshConfig is deny by default with egress open", func(t *testing.T) {
		if m.Settings.Permissive || !m.Settings.EgressPassthrough || len(m.IngressRules) == 0 {
			t.Fatalf("settings: %+v", m.Settings)
		}
	})
	t.Run("bookbuyer reaches bookstore through the split, evenly", func(t *testing.T) {
		o := outbound(m, buyer, svc("bookstore", "bookstore"))
		if o == nil {
			t.Fatalf("bookbuyer reaches %v", reached(m, buyer))
		}
		if len(o.Backends) != 2 || o.Backends[0].Service.Name != "bookstore-v1" || o.Backends[1].Service.Name != "bookstore-v2" ||
			o.Backends[0].Weight != o.Backends[1].Weight || o.Backends[0].Weight == 0 {
			t.Fatalf("backends: %+v", o.Backends)
		}
		if o.Retry != nil {
			t.Errorf("the Retry applies although its feature flag is off")
		}
		if o.Service.UpstreamTrafficSetting == nil || o.Service.UpstreamTrafficSetting.Policy.Name != "bookstore-limits" {
			t.Errorf("bookstore's UpstreamTrafficSetting is not attached")
		}
	})
	t.Run("bookstore admits bookbuyer only for the route group's matches", func(t *testing.T) {
		in := inbound(m, store, svc("bookstore", "bookstore"), 14001)
		if in == nil || in.AllowAll || len(in.Rules) != 1 {
			t.Fatalf("inbound: %+v", in)
		}
		r := in.Rules[0]
		if !slices.Equal(r.Sources, []identity.Identity{buyer}) || r.AllTraffic || len(r.HTTPMatches) != 2 {
			t.Fatalf("rule: %+v", r)
		}
		books := r.HTTPMatches[1]
		if books.Name != "books-bought" || books.PathRegex != "/books-bought" || !slices.Equal(books.Methods, []string{"GET"}) ||
			len(books.Headers) != 2 || books.Headers[0] != (catalog.HeaderMatch{Name: "client-app", ValueRegex: "bookbuyer"}) {
			t.Fatalf("match: %+v", books)
		}
	})
	t.Run("bookthief reaches nothing and nobody admits it", func(t *testing.T) {
		if got := reached(m, thief); len(got) != 0 {
			t.Fatalf("bookthief reaches %v", got)
		}
		for _, v := range m.Identities {
			for _, in := range v.Inbound {
				for _, r := range in.Rules {
					if slices.Contains(r.Sources, thief) {
						t.Fatalf("%s admits bookthief", v.Identity)
					}
				}
			}
		}
	})
	t.Run("bookstore reaches bookwarehouse over TCP", func(t *testing.T) {
		if outbound(m, store, svc("bookwarehouse", "bookwarehouse")) == nil {
			t.Fatalf("bookstore reaches %v", reached(m, store))
		}
		in := inbound(m, warehouse, svc("bookwarehouse", "bookwarehouse"), 14001)
		if in == nil || in.Port.Protocol != catalog.ProtocolTCP || len(in.Rules) != 1 || !in.Rules[0].AllTraffic {
			t.Fatalf("inbound: %+v", in)
		}
	})
	t.Run("the IngressBackend resolves", func(t *testing.T) {
		if len(m.IngressRules) != 1 {
			t.Fatalf("ingress rules: %+v%s", m.IngressRules, problems(m))
		}
		r := m.IngressRules[0]
		if r.Backend != svc("bookstore", "bookstore-v1") || r.Port.Port != 14001 || r.Protocol != "https" || r.SkipClientCertValidation ||
			!slices.Equal(r.SourcePrincipals, []string{"ingress-nginx.ingress-nginx.cluster.local"}) ||
			!slices.Equal(r.SourceIPRanges, []netip.Prefix{netip.MustParsePrefix("10.244.9.10/32")}) ||
			!slices.Equal(r.SourceServices, []catalog.ServiceRef{svc("ingress-nginx", "ingress-nginx-controller")}) {
			t.Fatalf("rule: %+v", r)
		}
		v := m.Identity(store)
		if len(v.Ingress) != 1 || v.Ingress[0] != r {
			t.Fatalf("bookstore's ingress: %+v", v.Ingress)
		}
	})
	t.Run("curl may leave for httpbin.org and the database subnet", func(t *testing.T) {
		v := m.Identity(id("curl", "curl"))
		if v == nil || len(v.Egress) != 3 || !v.EgressPassthrough {
			t.Fatalf("curl: %+v", v)
		}
		var cidrs []netip.Prefix
		for _, e := range v.Egress {
			cidrs = append(cidrs, e.IPRanges...)
		}
		if !slices.Equal(cidrs, []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}) {
			t.Fatalf("CIDRs: %v", cidrs)
		}
	})
	t.Run("nothing in the examples is a problem but the Retry behind its flag and a TCP Service without the cluster IP a cluster gives", func(t *testing.T) {
		if len(m.Problems) != 2 || !hasProblem(m, "Retry", "bookbuyer-retry", "enableRetryPolicy is off") ||
			!hasProblem(m, "Service", "bookwarehouse", "no cluster IP (a cluster assigns one; files must write it), so meshed clients cannot reach port 14001 (tcp)") {
			t.Fatalf("problems:%s", problems(m))
		}
	})
}
