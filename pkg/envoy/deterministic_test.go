package envoy_test

import (
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/weft-mesh/weft/pkg/envoy"
)

// Equal configuration marshals to equal bytes: the xDS server versions
// resources by their bytes, and RBAC policies are a map.
func TestGenerateIsDeterministic(t *testing.T) {
	m := loadModel(t, "mesh.yaml", "bookstore.yaml", "access.yaml", "policies.yaml", "ingress.yaml")
	// The proxyless server listener merges the policies of every Service
	// on its port into one RBAC filter.
	proxy := envoy.Proxy{Identity: bookstore, Kind: envoy.ProxyGRPC}
	first, err := envoy.Generate(m, proxy)
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		again, err := envoy.Generate(m, proxy)
		if err != nil {
			t.Fatal(err)
		}
		for i, l := range first.Listeners {
			a, _ := proto.MarshalOptions{Deterministic: true}.Marshal(l)
			b, _ := proto.MarshalOptions{Deterministic: true}.Marshal(again.Listeners[i])
			if string(a) != string(b) {
				t.Fatalf("listener %s marshals differently from one generation to the next", l.GetName())
			}
		}
	}
}
