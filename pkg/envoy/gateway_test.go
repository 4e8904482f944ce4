package envoy_test

import (
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/envoy"
)

var gatewayFixtures = []string{"mesh.yaml", "bookstore.yaml", "access.yaml", "gateway.yaml"}

// The acceptance case: a Gateway with an HTTPRoute splitting /books 80/20
// gives the gateway proxy an HTTP and an HTTPS listener (its certificateRef
// over SDS), the route, and mTLS clusters to the backends' identity with the
// gateway's own service certificate.
func TestGatewayProxyGolden(t *testing.T) {
	m := loadModel(t, gatewayFixtures...)
	gw := catalog.GatewayIdentity("bookstore", "ingress")
	r, err := envoy.Generate(m, envoy.Proxy{Identity: gw, Kind: envoy.ProxyGateway})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("generated resources do not validate:\n%v", err)
	}
	checkGolden(t, "gateway", "listeners", goldenJSON(t, r.Listeners))
	checkGolden(t, "gateway", "routes", goldenJSON(t, r.Routes))
	checkGolden(t, "gateway", "clusters", goldenJSON(t, r.Clusters))
	checkGolden(t, "gateway", "endpoints", goldenJSON(t, r.Endpoints))
	checkGolden(t, "gateway", "secrets", indentJSON(t, r.Secrets))
	if len(r.GatewaySecrets) != 1 || r.GatewaySecrets[0].GetName() != "gateway-cert:bookstore/bookstore-tls" ||
		!strings.HasPrefix(string(r.GatewaySecrets[0].GetTlsCertificate().GetCertificateChain().GetInlineBytes()), "-----BEGIN CERTIFICATE") {
		t.Errorf("gateway secrets %v", r.GatewaySecrets)
	}
	// Upstream mTLS: the gateway's certificate, the backend's identity.
	for _, c := range r.Clusters {
		var ctx tlsv3.UpstreamTlsContext
		if err := c.GetTransportSocket().GetTypedConfig().UnmarshalTo(&ctx); err != nil {
			t.Fatalf("cluster %s: %v", c.GetName(), err)
		}
		cert := ctx.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs()[0].GetName()
		sans := ctx.GetCommonTlsContext().GetCombinedValidationContext().GetDefaultValidationContext().GetMatchTypedSubjectAltNames()
		if cert != "service-cert:bookstore/ingress-weft-gateway" || len(sans) == 0 ||
			sans[1].GetMatcher().GetExact() != "spiffe://cluster.local/ns/bookstore/sa/bookstore" {
			t.Errorf("cluster %s: certificate %q, peers %v", c.GetName(), cert, sans)
		}
	}
	if n := len(r.Clusters); n != 2 {
		t.Errorf("%d clusters, want bookstore-v1 and -v2", n)
	}
}

// The backend admits the gateway's identity on the port its route reaches,
// with no IngressBackend and no TrafficTarget naming it.
func TestGatewayBackendAdmitsTheGateway(t *testing.T) {
	r := generate(t, gatewayFixtures, bookstore)
	checkGolden(t, "gateway-backend", "listeners", goldenJSON(t, r.Listeners))
	gwPrincipal := "spiffe://cluster.local/ns/bookstore/sa/ingress-weft-gateway"
	admits := map[string]bool{}
	for _, l := range r.Listeners {
		if l.GetName() != envoy.InboundListenerName {
			continue
		}
		for _, fc := range l.GetFilterChains() {
			if rules := chainRBAC(t, fc); rules != nil {
				pol := rules.GetPolicies()["gateway:bookstore/ingress"]
				admits[fc.GetName()] = pol != nil && strings.Contains(pol.String(), gwPrincipal)
			}
		}
	}
	want := map[string]bool{"inbound|bookstore/bookstore|14001": false, "inbound|bookstore/bookstore-v1|14001": true, "inbound|bookstore/bookstore-v2|14001": true}
	for name, w := range want {
		if got, ok := admits[name]; !ok || got != w {
			t.Errorf("chain %s admits the gateway: %v (present %v), want %v; chains %v", name, got, ok, w, admits)
		}
	}
}

// chainRBAC is the RBAC HTTP filter's rules of an inbound HTTP chain, or nil.
func chainRBAC(t *testing.T, fc *listenerv3.FilterChain) *rbacv3.RBAC {
	t.Helper()
	for _, f := range fc.GetFilters() {
		var hcm hcmv3.HttpConnectionManager
		if f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
			continue
		}
		for _, hf := range hcm.GetHttpFilters() {
			var rb rbachttpv3.RBAC
			if hf.GetTypedConfig().UnmarshalTo(&rb) == nil && rb.GetRules() != nil {
				return rb.GetRules()
			}
		}
	}
	return nil
}

// A gateway certificate whose identity is no Gateway's gets nothing: the
// identity, not the kind, decides what a proxy serves.
func TestGatewayKindOfAnotherIdentityGetsNothing(t *testing.T) {
	m := loadModel(t, gatewayFixtures...)
	r, err := envoy.Generate(m, envoy.Proxy{Identity: bookstore, Kind: envoy.ProxyGateway})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(r.Listeners) + len(r.Clusters) + len(r.Routes) + len(r.Secrets) + len(r.GatewaySecrets); n != 0 {
		t.Errorf("%d resources for a gateway proxy of bookstore/bookstore, want none", n)
	}
}

// Routes with hostnames get virtual hosts of their own, which fall back on
// the routes without hostnames.
func TestGatewayHostnamesGolden(t *testing.T) {
	m := loadModel(t, append(gatewayFixtures, "gateway-hostnames.yaml")...)
	r, err := envoy.Generate(m, envoy.Proxy{Identity: catalog.GatewayIdentity("bookstore", "ingress"), Kind: envoy.ProxyGateway})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatalf("generated resources do not validate:\n%v", err)
	}
	checkGolden(t, "gateway-hostnames", "routes", goldenJSON(t, r.Routes))
}
