package xds_test

import (
	"context"
	"slices"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/xds"
)

// fixedCerts hands out one fixed certificate for every identity.
type fixedCerts struct{}

func (fixedCerts) ServiceCertificate(_ context.Context, id identity.Identity) (*ca.Certificate, error) {
	return &ca.Certificate{Identity: id, CertChainPEM: []byte("cert"), PrivateKeyPEM: []byte("key")}, nil
}
func (fixedCerts) Bundle() []byte { return []byte("roots") }

// A proxy of kind gateway is served its Gateway's listeners, and its
// listeners' certificate beside the secrets filled from the CA.
func TestGatewayProxyIsServed(t *testing.T) {
	m := xds.NewMesh(fixedCerts{})
	m.SetModel(fixtureModel(t, "mesh.yaml", "bookstore.yaml", "access.yaml", "gateway.yaml"))
	p := ca.Proxy{ID: "6f1c9d2e-0000-4000-8000-000000000001", Kind: ca.ProxyGateway, Identity: catalog.GatewayIdentity("bookstore", "ingress")}
	res, err := m.Config(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	names := func(items []types.Resource) []string {
		var out []string
		for _, r := range items {
			out = append(out, cachev3.GetResourceName(r))
		}
		slices.Sort(out)
		return out
	}
	if got := names(res[resource.ListenerType]); !slices.Equal(got, []string{"gateway.443", "gateway.80"}) {
		t.Errorf("listeners %v", got)
	}
	want := []string{"gateway-cert:bookstore/bookstore-tls", "root-cert-for-mtls-outbound:bookstore/bookstore-v1",
		"root-cert-for-mtls-outbound:bookstore/bookstore-v2", "service-cert:bookstore/ingress-weft-gateway"}
	if got := names(res[resource.SecretType]); !slices.Equal(got, want) {
		t.Errorf("secrets %v, want %v", got, want)
	}
}
