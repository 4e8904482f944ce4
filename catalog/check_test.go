package catalog_test

import (
	"net/netip"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// CheckAccess over the bookstore story, as `weft policy check` asks it.
func TestCheckAccess(t *testing.T) {
	src := &k8s.FilesSource{Paths: []string{filepath.Join("..", "examples"), filepath.Join("testdata", "ingress-nginx-endpoints.yaml")}, Options: k8s.DefaultOptions()}
	s, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	m := catalog.Build(s, mesh.Defaults())
	buyer, thief, store := id("bookbuyer", "bookbuyer"), id("bookthief", "bookthief"), id("bookstore", "bookstore")
	bookstore := svc("bookstore", "bookstore")
	get := func(path string, headers map[string]string) *catalog.HTTPRequest {
		return &catalog.HTTPRequest{Path: path, Method: "GET", Headers: headers}
	}
	client := map[string]string{"User-Agent": "go-http-client/1.1", "client-app": "bookbuyer"}
	for _, c := range []struct {
		name    string
		req     catalog.AccessRequest
		allowed bool
		// policy is the TrafficTarget or IngressBackend that decides, match
		// the HTTP match that admits, on every path.
		policy, match string
	}{
		{name: "bookbuyer buys a book through the split's two backends",
			req:     catalog.AccessRequest{Source: buyer, Service: bookstore, Port: 14001, HTTP: get("/buy-a-book/new?id=1", nil)},
			allowed: true, policy: "bookbuyer-access-bookstore", match: "buy-a-book"},
		{name: "a POST is not among the match's methods",
			req: catalog.AccessRequest{Source: buyer, Service: bookstore, Port: 14001, HTTP: &catalog.HTTPRequest{Path: "/buy-a-book/new", Method: "POST"}}},
		{name: "books-bought needs its headers",
			req: catalog.AccessRequest{Source: buyer, Service: bookstore, Port: 14001, HTTP: get("/books-bought", nil)}},
		{name: "books-bought with its headers is admitted",
			req:     catalog.AccessRequest{Source: buyer, Service: bookstore, Port: 14001, HTTP: get("/books-bought", client)},
			allowed: true, policy: "bookbuyer-access-bookstore", match: "books-bought"},
		{name: "the path regular expression matches the whole path",
			req: catalog.AccessRequest{Source: buyer, Service: bookstore, Port: 14001, HTTP: get("/books-bought/all", client)}},
		{name: "without a request every admitting match is listed",
			req:     catalog.AccessRequest{Source: buyer, Service: bookstore},
			allowed: true, policy: "bookbuyer-access-bookstore", match: "buy-a-book"},
		{name: "bookthief is named by no TrafficTarget",
			req: catalog.AccessRequest{Source: thief, Service: bookstore, Port: 14001, HTTP: get("/buy-a-book/new", nil)}},
		{name: "a TCPRoute admits the whole port",
			req:     catalog.AccessRequest{Source: store, Service: svc("bookwarehouse", "bookwarehouse"), Port: 14001},
			allowed: true, policy: "bookstore-access-bookwarehouse"},
		{name: "ingress-nginx's address is admitted by the IngressBackend",
			req:     catalog.AccessRequest{SourceIP: netip.MustParseAddr("10.244.9.10"), Service: svc("bookstore", "bookstore-v1"), Port: 14001},
			allowed: true, policy: "bookstore-backend"},
		{name: "another address outside the mesh is not",
			req: catalog.AccessRequest{SourceIP: netip.MustParseAddr("10.244.9.11"), Service: svc("bookstore", "bookstore-v1"), Port: 14001}},
		{name: "a Service outside the mesh has no answer",
			req: catalog.AccessRequest{Source: buyer, Service: svc("ingress-nginx", "ingress-nginx-controller")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := m.CheckAccess(c.req)
			if res.Allowed() != c.allowed {
				t.Fatalf("allowed: got %v, want %v: %+v", res.Allowed(), c.allowed, res.Paths)
			}
			for _, p := range res.Paths {
				var policy string
				switch {
				case p.Rule != nil:
					policy = p.Rule.Policy.Name
				case p.Ingress != nil:
					policy = p.Ingress.Policy.Name
				}
				if policy != c.policy {
					t.Errorf("%s: decided by %q, want %q", p.Service, policy, c.policy)
				}
				if c.match != "" && (len(p.Matches) == 0 || p.Matches[0].Name != c.match) {
					t.Errorf("%s: matches %+v, want %s first", p.Service, p.Matches, c.match)
				}
			}
		})
	}
	t.Run("the split's root stands for its backends", func(t *testing.T) {
		res := m.CheckAccess(catalog.AccessRequest{Source: buyer, Service: bookstore, Port: 14001})
		if res.Split == nil || len(res.Paths) != 2 || res.Paths[0].Service.Name != "bookstore-v1" || res.Paths[1].Service.Name != "bookstore-v2" {
			t.Fatalf("%+v", res)
		}
	})
	t.Run("the ingress rule asks for a certificate", func(t *testing.T) {
		res := m.CheckAccess(catalog.AccessRequest{SourceIP: netip.MustParseAddr("10.244.9.10"), Service: svc("bookstore", "bookstore-v1")})
		if len(res.Paths) != 1 || !res.Paths[0].RequiresCertificate {
			t.Fatalf("%+v", res.Paths)
		}
	})
}

func TestCheckAccessPermissive(t *testing.T) {
	m := build(t, `
apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  traffic: {enablePermissiveTrafficPolicyMode: true}
---
apiVersion: v1
kind: Service
metadata: {name: b, namespace: ns}
spec:
  clusterIP: 10.0.0.2
  selector: {app: b}
  ports: [{name: http, port: 80}]
---
apiVersion: v1
kind: Pod
metadata: {name: b-0, namespace: ns, labels: {app: b}}
spec: {serviceAccountName: b, containers: [{name: b, image: b}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a-0, namespace: ns}
spec: {serviceAccountName: a, containers: [{name: a, image: a}]}
`)
	for _, c := range []struct {
		name    string
		source  identity.Identity
		allowed bool
	}{
		{"a mesh identity is admitted", id("ns", "a"), true},
		{"a source outside the mesh is not", identity.Identity{}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			res := m.CheckAccess(catalog.AccessRequest{Source: c.source, Service: svc("ns", "b"), Port: 80,
				HTTP: &catalog.HTTPRequest{Path: "/", Method: "DELETE"}})
			if res.Allowed() != c.allowed || len(res.Paths) != 1 || res.Paths[0].Permissive != c.allowed {
				t.Fatalf("%+v", res.Paths)
			}
		})
	}
}

func TestHTTPMatchAdmits(t *testing.T) {
	m := catalog.HTTPMatch{PathRegex: "/books/[0-9]+", Methods: []string{"GET", "HEAD"},
		Headers: []catalog.HeaderMatch{{Name: "host", ValueRegex: "bookstore(:[0-9]+)?"}}}
	host := map[string]string{"Host": "bookstore:14001"}
	for _, c := range []struct {
		name  string
		req   catalog.HTTPRequest
		admit bool
	}{
		{"every condition holds", catalog.HTTPRequest{Path: "/books/12", Method: "HEAD", Headers: host}, true},
		{"the query is not part of the path", catalog.HTTPRequest{Path: "/books/12?x=/y", Method: "GET", Headers: host}, true},
		{"the authority stands for Host", catalog.HTTPRequest{Path: "/books/12", Method: "GET", Headers: map[string]string{":authority": "bookstore"}}, true},
		{"the path must match whole", catalog.HTTPRequest{Path: "/books/12/x", Method: "GET", Headers: host}, false},
		{"another method", catalog.HTTPRequest{Path: "/books/12", Method: "POST", Headers: host}, false},
		{"a missing header", catalog.HTTPRequest{Path: "/books/12", Method: "GET"}, false},
		{"a header value must match whole", catalog.HTTPRequest{Path: "/books/12", Method: "GET", Headers: map[string]string{"host": "bookstore.x"}}, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := m.Admits(c.req); got != c.admit {
				t.Fatalf("got %v, want %v", got, c.admit)
			}
		})
	}
	if !(catalog.HTTPMatch{}).Admits(catalog.HTTPRequest{Path: "/anything", Method: "PATCH"}) {
		t.Error("an empty match admits every request")
	}
}

// CheckAccess reads the model and changes nothing in it.
func TestCheckAccessLeavesTheModelAlone(t *testing.T) {
	src := &k8s.FilesSource{Paths: []string{filepath.Join("..", "examples")}, Options: k8s.DefaultOptions()}
	s, err := src.Load()
	if err != nil {
		t.Fatal(err)
	}
	m, fresh := catalog.Build(s, mesh.Defaults()), catalog.Build(s, mesh.Defaults())
	for _, src := range []identity.Identity{id("bookbuyer", "bookbuyer"), id("bookthief", "bookthief"), {}} {
		for _, svc := range m.Services {
			m.CheckAccess(catalog.AccessRequest{Source: src, SourceIP: netip.MustParseAddr("10.0.0.1"), Service: svc.ServiceRef,
				HTTP: &catalog.HTTPRequest{Path: "/buy-a-book/new", Method: "GET"}})
			m.CheckAccess(catalog.AccessRequest{Source: src, Service: svc.ServiceRef})
		}
	}
	if !reflect.DeepEqual(m, fresh) {
		t.Fatal("CheckAccess changed the model")
	}
}

// A split's backend without the root's port gets none of its traffic, and
// does not decide.
func TestCheckAccessSplitBackendWithoutThePort(t *testing.T) {
	m := build(t, `
apiVersion: v1
kind: Service
metadata: {name: root, namespace: ns}
spec: {clusterIP: 10.0.0.1, selector: {app: b}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b1, namespace: ns}
spec: {clusterIP: 10.0.0.2, selector: {app: b}, ports: [{name: http, port: 80}]}
---
apiVersion: v1
kind: Service
metadata: {name: b2, namespace: ns}
spec: {clusterIP: 10.0.0.3, selector: {app: b}, ports: [{name: web, port: 8080}]}
---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: s, namespace: ns}
spec:
  service: root
  backends: [{service: b1, weight: 50}, {service: b2, weight: 50}]
---
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: a-to-b, namespace: ns}
spec:
  destination: {kind: ServiceAccount, name: b, namespace: ns}
  sources: [{kind: ServiceAccount, name: a, namespace: ns}]
  rules: [{kind: HTTPRouteGroup, name: all}]
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: all, namespace: ns}
spec: {matches: [{name: any, pathRegex: ".*", methods: ["*"]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b-0, namespace: ns, labels: {app: b}}
spec: {serviceAccountName: b, containers: [{name: b, image: b}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a-0, namespace: ns}
spec: {serviceAccountName: a, containers: [{name: a, image: a}]}
`)
	res := m.CheckAccess(catalog.AccessRequest{Source: id("ns", "a"), Service: svc("ns", "root"), Port: 80})
	if !res.Allowed() || len(res.Paths) != 2 || !res.Paths[1].NoPort || res.Paths[1].Service.Name != "b2" {
		t.Fatalf("allowed %v: %+v", res.Allowed(), res.Paths)
	}
}
