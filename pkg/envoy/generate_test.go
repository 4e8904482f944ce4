package envoy_test

import (
	"testing"

	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
)

// goldenCases are the OSM demo's stories, each seen from one proxy.
var goldenCases = []struct {
	name     string
	dir      string
	fixtures []string
	proxy    identity.Identity
}{
	{
		name:     "in permissive mode the bookstore admits any mesh identity and reaches every service",
		dir:      "permissive",
		fixtures: []string{"permissive.yaml", "bookstore.yaml"},
		proxy:    identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"},
	},
	{
		name:     "the bookstore admits only bookbuyer, on the HTTPRouteGroup's routes",
		dir:      "access",
		fixtures: []string{"mesh.yaml", "bookstore.yaml", "access.yaml"},
		proxy:    identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"},
	},
	{
		name:     "bookbuyer splits the bookstore 50/50 between v1 and v2, with retries and v1's circuit breakers",
		dir:      "split",
		fixtures: []string{"mesh.yaml", "bookstore.yaml", "access.yaml", "split.yaml", "policies.yaml"},
		proxy:    identity.Identity{Namespace: "bookbuyer", ServiceAccount: "bookbuyer"},
	},
	{
		name:     "the bookstore admits ingress-nginx to bookstore-v1 over mTLS by its principal and address",
		dir:      "ingress",
		fixtures: []string{"mesh.yaml", "bookstore.yaml", "access.yaml", "policies.yaml", "ingress.yaml"},
		proxy:    identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"},
	},
	{
		name:     "curl reaches httpbin.org by host and SNI and a database subnet by address",
		dir:      "egress",
		fixtures: []string{"mesh.yaml", "egress.yaml"},
		proxy:    identity.Identity{Namespace: "curl", ServiceAccount: "curl"},
	},
}

func generate(t *testing.T, fixtures []string, id identity.Identity) *envoy.Resources {
	t.Helper()
	m := loadModel(t, fixtures...)
	if m.Identity(id) == nil {
		t.Fatalf("identity %s is not in the model", id)
	}
	r, err := envoy.Generate(m, envoy.Proxy{Identity: id, Metrics: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("generated resources do not validate:\n%v", err)
	}
	return r
}

func TestGenerateGolden(t *testing.T) {
	for _, tt := range goldenCases {
		t.Run(tt.name, func(t *testing.T) {
			r := generate(t, tt.fixtures, tt.proxy)
			checkGolden(t, tt.dir, "listeners", goldenJSON(t, r.Listeners))
			checkGolden(t, tt.dir, "routes", goldenJSON(t, r.Routes))
			checkGolden(t, tt.dir, "clusters", goldenJSON(t, r.Clusters))
			checkGolden(t, tt.dir, "endpoints", goldenJSON(t, r.Endpoints))
			checkGolden(t, tt.dir, "secrets", indentJSON(t, r.Secrets))
		})
	}
}
