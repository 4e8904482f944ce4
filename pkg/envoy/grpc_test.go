package envoy_test

import (
	"testing"

	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
)

// The proxyless gRPC flavour of the demo's stories, as grpc-go takes it.
func TestGenerateGRPCGolden(t *testing.T) {
	for _, tt := range []struct {
		name     string
		dir      string
		fixtures []string
		proxy    identity.Identity
	}{
		{
			name:     "bookbuyer dials bookstore split 50/50 through api listeners, with mTLS from the certificate provider",
			dir:      "grpc-split",
			fixtures: []string{"mesh.yaml", "bookstore.yaml", "access.yaml", "split.yaml", "policies.yaml"},
			proxy:    bookbuyer,
		},
		{
			name:     "bookstore's server listeners admit bookbuyer by RBAC and ingress-nginx by its source range",
			dir:      "grpc-ingress",
			fixtures: []string{"mesh.yaml", "bookstore.yaml", "access.yaml", "policies.yaml", "ingress.yaml"},
			proxy:    bookstore,
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := loadModel(t, tt.fixtures...)
			r, err := envoy.Generate(m, envoy.Proxy{Identity: tt.proxy, Kind: envoy.ProxyGRPC})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Validate(); err != nil {
				t.Fatalf("generated resources do not validate:\n%v", err)
			}
			if len(r.Secrets) != 0 {
				t.Errorf("secrets %v: gRPC takes no SDS", r.Secrets)
			}
			checkGolden(t, tt.dir, "listeners", goldenJSON(t, r.Listeners))
			checkGolden(t, tt.dir, "routes", goldenJSON(t, r.Routes))
			checkGolden(t, tt.dir, "clusters", goldenJSON(t, r.Clusters))
			checkGolden(t, tt.dir, "endpoints", goldenJSON(t, r.Endpoints))
		})
	}
}
