package envoy_test

import (
	"slices"
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
)

var (
	bookstore  = identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}
	bookbuyer  = identity.Identity{Namespace: "bookbuyer", ServiceAccount: "bookbuyer"}
	curl       = identity.Identity{Namespace: "curl", ServiceAccount: "curl"}
	chatClient = identity.Identity{Namespace: "chat", ServiceAccount: "client"}
	chatAPI    = identity.Identity{Namespace: "chat", ServiceAccount: "api"}
)

func unpack[T proto.Message](t *testing.T, a *anypb.Any) T {
	t.Helper()
	m, err := a.UnmarshalNew()
	if err != nil {
		t.Fatal(err)
	}
	v, ok := m.(T)
	if !ok {
		t.Fatalf("typed config is %T", m)
	}
	return v
}

// named returns the item of items called name, or fails the test: where says
// what holds them.
func named[T interface{ GetName() string }](t *testing.T, items []T, name, where string) T {
	t.Helper()
	for _, it := range items {
		if it.GetName() == name {
			return it
		}
	}
	t.Fatalf("%s: nothing named %s", where, name)
	var zero T
	return zero
}

func listener(t *testing.T, r *envoy.Resources, name string) *listenerv3.Listener {
	t.Helper()
	return named(t, r.Listeners, name, "listeners")
}

func chain(t *testing.T, l *listenerv3.Listener, name string) *listenerv3.FilterChain {
	t.Helper()
	return named(t, l.GetFilterChains(), name, "filter chains of "+l.GetName())
}

func cluster(t *testing.T, r *envoy.Resources, name string) *clusterv3.Cluster {
	t.Helper()
	return named(t, r.Clusters, name, "clusters")
}

// httpRBACPrincipals lists, per policy, the principal names of the RBAC
// filter in a chain's HTTP connection manager.
func httpRBACPrincipals(t *testing.T, fc *listenerv3.FilterChain) map[string][]string {
	t.Helper()
	hcm := unpack[*hcmv3.HttpConnectionManager](t, fc.GetFilters()[0].GetTypedConfig())
	if hcm.GetHttpFilters()[0].GetName() != "envoy.filters.http.rbac" {
		t.Fatalf("first HTTP filter is %s, want RBAC", hcm.GetHttpFilters()[0].GetName())
	}
	rbac := unpack[*rbachttpv3.RBAC](t, hcm.GetHttpFilters()[0].GetTypedConfig())
	if rbac.GetRules() == nil {
		t.Fatal("RBAC without rules enforces nothing")
	}
	out := map[string][]string{}
	for name, p := range rbac.GetRules().GetPolicies() {
		out[name] = []string{}
		for _, pr := range p.GetPrincipals() {
			out[name] = append(out[name], pr.GetAuthenticated().GetPrincipalName().GetExact())
		}
	}
	return out
}

func TestInboundRBAC(t *testing.T) {
	tests := []struct {
		name     string
		fixtures []string
		chain    string
		want     map[string][]string
	}{
		{
			name:     "an HTTPRouteGroup TrafficTarget admits exactly bookbuyer's certificate names",
			fixtures: []string{"mesh.yaml", "bookstore.yaml", "access.yaml"},
			chain:    "inbound|bookstore/bookstore|14001",
			want: map[string][]string{"bookstore/bookbuyer-access-bookstore": {
				"bookbuyer.bookbuyer.cluster.local", "spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer"}},
		},
		{
			name:     "permissive mode admits any authenticated identity",
			fixtures: []string{"permissive.yaml", "bookstore.yaml"},
			chain:    "inbound|bookstore/bookstore|14001",
			want:     map[string][]string{"allow-all-mesh-identities": {""}},
		},
		{
			name:     "without a TrafficTarget nothing is admitted (403 RBAC: access denied)",
			fixtures: []string{"mesh.yaml", "bookstore.yaml"},
			chain:    "inbound|bookstore/bookstore|14001",
			want:     map[string][]string{},
		},
		{
			name:     "an IngressBackend admits the named principal only",
			fixtures: []string{"mesh.yaml", "bookstore.yaml", "ingress.yaml"},
			chain:    "ingress|bookstore/bookstore-v1|14001|https",
			want:     map[string][]string{"bookstore/bookstore-backend": {"ingress-nginx.ingress-nginx.cluster.local"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := generate(t, tt.fixtures, bookstore)
			fc := chain(t, listener(t, r, envoy.InboundListenerName), tt.chain)
			got := httpRBACPrincipals(t, fc)
			if len(got) != len(tt.want) {
				t.Fatalf("policies %v, want %v", got, tt.want)
			}
			for name, want := range tt.want {
				if !slices.Equal(got[name], want) {
					t.Errorf("policy %s principals %q, want %q", name, got[name], want)
				}
			}
		})
	}
}

func TestSplitAndUpstreamTLS(t *testing.T) {
	r := generate(t, []string{"mesh.yaml", "bookstore.yaml", "access.yaml", "split.yaml"}, bookbuyer)
	var root *routev3.VirtualHost
	for _, rc := range r.Routes {
		for _, vh := range rc.GetVirtualHosts() {
			if vh.GetName() == "outbound|bookstore/bookstore|14001" {
				root = vh
			}
		}
	}
	if root == nil {
		t.Fatal("no virtual host for the root service")
	}
	var got []string
	for _, w := range root.GetRoutes()[0].GetRoute().GetWeightedClusters().GetClusters() {
		got = append(got, w.GetName()+"="+w.GetWeight().String())
	}
	want := []string{"bookstore/bookstore-v1|14001=value:500", "bookstore/bookstore-v2|14001=value:500"}
	if !slices.Equal(got, want) {
		t.Errorf("weighted clusters %q, want %q", got, want)
	}
	tests := []struct {
		name, cluster, sni, root string
	}{
		{"bookstore-v1 is reached with its own SNI and roots", "bookstore/bookstore-v1|14001", "bookstore-v1.bookstore.svc.cluster.local", "root-cert-for-mtls-outbound:bookstore/bookstore-v1"},
		{"bookstore-v2 is reached with its own SNI and roots", "bookstore/bookstore-v2|14001", "bookstore-v2.bookstore.svc.cluster.local", "root-cert-for-mtls-outbound:bookstore/bookstore-v2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := unpack[*tlsv3.UpstreamTlsContext](t, cluster(t, r, tt.cluster).GetTransportSocket().GetTypedConfig())
			if ctx.GetSni() != tt.sni {
				t.Errorf("SNI %q, want %q", ctx.GetSni(), tt.sni)
			}
			cv := ctx.GetCommonTlsContext().GetCombinedValidationContext()
			if got := cv.GetValidationContextSdsSecretConfig().GetName(); got != tt.root {
				t.Errorf("roots from %q, want %q", got, tt.root)
			}
			var sans []string
			for _, m := range cv.GetDefaultValidationContext().GetMatchTypedSubjectAltNames() {
				sans = append(sans, m.GetMatcher().GetExact())
			}
			if want := []string{"bookstore.bookstore.cluster.local", "spiffe://cluster.local/ns/bookstore/sa/bookstore"}; !slices.Equal(sans, want) {
				t.Errorf("SAN matchers %q, want %q", sans, want)
			}
			if got := ctx.GetCommonTlsContext().GetTlsCertificateSdsSecretConfigs()[0].GetName(); got != "service-cert:bookbuyer/bookbuyer" {
				t.Errorf("client certificate %q, want bookbuyer's", got)
			}
		})
	}
}

func TestHeadlessServices(t *testing.T) {
	db := identity.Identity{Namespace: "data", ServiceAccount: "db"}
	r := generate(t, []string{"permissive.yaml", "headless.yaml"}, db)
	out := listener(t, r, envoy.OutboundListenerName)
	tests := []struct {
		name, chain string
		prefixes    []string
		port        uint32
	}{
		{"the first headless service matches its ready pod on the pod's port", "outbound|data/db|5432", []string{"10.244.7.10"}, 5432},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fc := chain(t, out, tt.chain)
			var got []string
			for _, p := range fc.GetFilterChainMatch().GetPrefixRanges() {
				got = append(got, p.GetAddressPrefix())
			}
			if !slices.Equal(got, tt.prefixes) || fc.GetFilterChainMatch().GetDestinationPort().GetValue() != tt.port {
				t.Errorf("match %v:%d, want %v:%d", got, fc.GetFilterChainMatch().GetDestinationPort().GetValue(), tt.prefixes, tt.port)
			}
			tcp := unpack[*tcpproxyv3.TcpProxy](t, fc.GetFilters()[0].GetTypedConfig())
			if c := cluster(t, r, tcp.GetCluster()); c.GetType() != clusterv3.Cluster_ORIGINAL_DST {
				t.Errorf("cluster %s is %v, want ORIGINAL_DST (a headless client picks its pod)", c.GetName(), c.GetType())
			}
		})
	}
	for _, fc := range out.GetFilterChains() {
		if strings.HasPrefix(fc.GetName(), "outbound|data/db-replicas|") {
			t.Errorf("db-replicas got chain %s although db took the same address and port", fc.GetName())
		}
	}
	in := listener(t, r, envoy.InboundListenerName)
	if got := chain(t, in, "inbound|data/db|5432").GetFilterChainMatch().GetDestinationPort().GetValue(); got != 5432 {
		t.Errorf("the named targetPort resolved to %d, want 5432", got)
	}
}

func TestUnknownIdentityGetsNothingButMetrics(t *testing.T) {
	m := loadModel(t, "mesh.yaml", "bookstore.yaml", "access.yaml")
	thief := identity.Identity{Namespace: "bookstore", ServiceAccount: "bookthief"}
	// As OSM, only a pod that asks to be scraped gets the Prometheus listener.
	quiet, err := envoy.Generate(m, envoy.Proxy{Identity: thief})
	if err != nil {
		t.Fatal(err)
	}
	if len(quiet.Listeners)+len(quiet.Clusters) != 0 {
		t.Errorf("without metrics: %d listeners and %d clusters, want none", len(quiet.Listeners), len(quiet.Clusters))
	}
	r, err := envoy.Generate(m, envoy.Proxy{Identity: thief, Metrics: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Validate(); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, l := range r.Listeners {
		names = append(names, l.GetName())
	}
	if !slices.Equal(names, []string{envoy.PrometheusListenerName}) || len(r.Secrets) != 0 {
		t.Errorf("listeners %v and secrets %v, want only the Prometheus listener", names, r.Secrets)
	}
}

func TestGenerateRejects(t *testing.T) {
	m := loadModel(t, "mesh.yaml")
	tests := []struct {
		name  string
		model *catalog.Model
		proxy envoy.Proxy
	}{
		{"no model", nil, envoy.Proxy{Identity: bookstore}},
		{"an unknown proxy kind", m, envoy.Proxy{Identity: bookstore, Kind: "ingress-controller"}},
		{"a proxy without an identity", m, envoy.Proxy{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := envoy.Generate(tt.model, tt.proxy); err == nil {
				t.Error("Generate succeeded")
			}
		})
	}
}

func TestParseSecretName(t *testing.T) {
	tests := []struct {
		name   string
		secret string
		want   envoy.SecretRef
		ok     bool
	}{
		{"a service certificate names the service account", envoy.ServiceCertSecretName(bookstore), envoy.SecretRef{Kind: envoy.SecretServiceCert, Namespace: "bookstore", Name: "bookstore"}, true},
		{"outbound roots name the service", envoy.OutboundRootSecretName(catalog.ServiceRef{Namespace: "bookstore", Name: "bookstore-v1"}), envoy.SecretRef{Kind: envoy.SecretOutboundRoot, Namespace: "bookstore", Name: "bookstore-v1"}, true},
		{"inbound roots name the service account", "root-cert-for-mtls-inbound:bookstore/bookstore", envoy.SecretRef{Kind: envoy.SecretInboundRoot, Namespace: "bookstore", Name: "bookstore"}, true},
		{"an unknown prefix is not ours", "cert:bookstore/bookstore", envoy.SecretRef{}, false},
		{"a name without a namespace is refused", "service-cert:bookstore", envoy.SecretRef{}, false},
		{"a name with two slashes is refused", "service-cert:a/b/c", envoy.SecretRef{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := envoy.ParseSecretName(tt.secret)
			if got != tt.want || ok != tt.ok {
				t.Errorf("ParseSecretName(%q) = %+v, %v; want %+v, %v", tt.secret, got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestSecrets(t *testing.T) {
	tests := []struct {
		name   string
		secret *tlsv3.Secret
	}{
		{"a service certificate carries chain and key", envoy.ServiceCertSecret("service-cert:bookstore/bookstore", []byte(testCertPEM), []byte(testKeyPEM))},
		{"a root secret is a validation context", envoy.RootCertSecret("root-cert-for-mtls-inbound:bookstore/bookstore", []byte(testCertPEM))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.secret.ValidateAll(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// Fixed test material: the shape of PEM, not a usable key.
const (
	testCertPEM = "-----BEGIN CERTIFICATE-----\nMIIBtest\n-----END CERTIFICATE-----\n"
	testKeyPEM  = "-----BEGIN EC PRIVATE KEY-----\nMHcCAQEEIKEYMATERIAL\n-----END EC PRIVATE KEY-----\n"
)
