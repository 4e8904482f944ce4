package envoy_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// TestConfiguredTrustDomainReachesCertificatesAndPeers follows one configured
// trust domain, example.org, from the mesh configuration to the CA's service
// certificates and to the generator: the inbound RBAC principals admit exactly
// the names bookbuyer's certificate carries, and the upstream SAN matchers
// accept exactly the names bookstore's certificate carries. None of them says
// cluster.local, which stays the cluster (DNS) domain only.
func TestConfiguredTrustDomainReachesCertificatesAndPeers(t *testing.T) {
	cfg := mesh.Config{TrustDomain: "example.org"}.WithDefaults()
	root, err := internalca.NewRoot("test root", internalca.DefaultRootValidity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	authority, err := ca.NewManager(ca.Options{Signer: internalca.New(root, nil), TrustDomain: cfg.TrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	// certificateNames are the CN, DNS SANs and URI SANs of an identity's
	// service certificate.
	certificateNames := func(id identity.Identity) (cn string, sans []string) {
		t.Helper()
		c, err := authority.ServiceCertificate(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		chain, err := ca.ParseCertificatesPEM(c.CertChainPEM)
		if err != nil {
			t.Fatal(err)
		}
		sans = slices.Clone(chain[0].DNSNames)
		for _, u := range chain[0].URIs {
			sans = append(sans, u.String())
		}
		return chain[0].Subject.CommonName, sans
	}
	cn, buyerNames := certificateNames(bookbuyer)
	if want := []string{"bookbuyer.bookbuyer.example.org", "spiffe://example.org/ns/bookbuyer/sa/bookbuyer"}; cn != want[0] || !slices.Equal(buyerNames, want) {
		t.Fatalf("bookbuyer's certificate: CN %q, SANs %q, want CN %q and SANs %q", cn, buyerNames, want[0], want)
	}
	_, storeNames := certificateNames(bookstore)

	m := loadModelWith(t, cfg, "mesh.yaml", "bookstore.yaml", "access.yaml")
	gen := func(id identity.Identity) *envoy.Resources {
		t.Helper()
		r, err := envoy.Generate(m, envoy.Proxy{Identity: id})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Validate(); err != nil {
			t.Fatal(err)
		}
		return r
	}

	t.Run("inbound RBAC admits the names bookbuyer's certificate carries", func(t *testing.T) {
		fc := chain(t, listener(t, gen(bookstore), envoy.InboundListenerName), "inbound|bookstore/bookstore|14001")
		principals := httpRBACPrincipals(t, fc)["bookstore/bookbuyer-access-bookstore"]
		if !slices.Equal(principals, buyerNames) {
			t.Errorf("RBAC principals %q, want bookbuyer's certificate names %q", principals, buyerNames)
		}
		noClusterLocal(t, principals)
	})
	t.Run("upstream TLS accepts the names bookstore's certificate carries", func(t *testing.T) {
		c := cluster(t, gen(bookbuyer), "bookstore/bookstore|14001")
		tc := unpack[*tlsv3.UpstreamTlsContext](t, c.GetTransportSocket().GetTypedConfig())
		var sans []string
		for _, san := range tc.GetCommonTlsContext().GetCombinedValidationContext().GetDefaultValidationContext().GetMatchTypedSubjectAltNames() {
			sans = append(sans, san.GetMatcher().GetExact())
		}
		if !slices.Equal(sans, storeNames) {
			t.Errorf("SAN matchers %q, want bookstore's certificate names %q", sans, storeNames)
		}
		noClusterLocal(t, sans)
		if got, want := tc.GetSni(), "bookstore.bookstore.svc.cluster.local"; got != want {
			t.Errorf("SNI %q, want %q: the cluster domain is not the trust domain", got, want)
		}
	})
}

func noClusterLocal(t *testing.T, names []string) {
	t.Helper()
	for _, n := range names {
		if strings.Contains(n, "cluster.local") {
			t.Errorf("%q names cluster.local, not the configured trust domain", n)
		}
	}
}
