package envoy_test

import (
	"math"
	"slices"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	netlrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/local_ratelimit/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"

	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// The Envoy fields OSM v1.2 users' traffic depends on (issue #12).

var (
	chatFixtures    = []string{"mesh.yaml", "bookstore.yaml", "chat.yaml"}
	splitFixtures   = []string{"mesh.yaml", "bookstore.yaml", "access.yaml", "split.yaml", "policies.yaml"}
	ingressFixtures = []string{"mesh.yaml", "bookstore.yaml", "access.yaml", "policies.yaml", "ingress.yaml"}
	egressFixtures  = []string{"mesh.yaml", "egress.yaml"}
)

// virtualHost is the virtual host vhost of route configuration rds.
func virtualHost(t *testing.T, r *envoy.Resources, rds, vhost string) *routev3.VirtualHost {
	t.Helper()
	rc := named(t, r.Routes, rds, "route configurations")
	return named(t, rc.GetVirtualHosts(), vhost, "virtual hosts of "+rds)
}

func TestHTTPRoutesHaveNoDeadline(t *testing.T) {
	tests := []struct {
		name     string
		fixtures []string
		proxy    identity.Identity
	}{
		{"outbound routes, retried ones too", splitFixtures, bookbuyer},
		{"inbound and ingress routes, rate limited ones too", ingressFixtures, bookstore},
		{"egress routes", egressFixtures, curl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := generate(t, tt.fixtures, tt.proxy)
			n := 0
			for _, rc := range r.Routes {
				for _, vh := range rc.GetVirtualHosts() {
					for _, rt := range vh.GetRoutes() {
						if a := rt.GetRoute(); a != nil {
							n++
							if a.GetTimeout() == nil || a.GetTimeout().AsDuration() != 0 {
								t.Errorf("%s %s: timeout %v, want 0s (Envoy's default is 15 s)", rc.GetName(), vh.GetName(), a.GetTimeout())
							}
						}
					}
				}
			}
			if n == 0 {
				t.Fatal("no route")
			}
		})
	}
	t.Run("a retry keeps its per-try timeout", func(t *testing.T) {
		r := generate(t, splitFixtures, bookbuyer)
		vh := virtualHost(t, r, "rds-outbound.14001", "outbound|bookstore/bookstore|14001")
		if got := vh.GetRoutes()[0].GetRoute().GetRetryPolicy().GetPerTryTimeout().AsDuration(); got != time.Second {
			t.Errorf("per-try timeout %v, want the Retry policy's 1s", got)
		}
	})
}

// The HTTP connection managers of mesh traffic accept WebSocket upgrades and
// keep an access log (JSON on Envoy's stdout); Prometheus's do neither.
func TestMeshHTTPConnectionManagersAcceptWebSockets(t *testing.T) {
	tests := []struct {
		name            string
		fixtures        []string
		proxy           identity.Identity
		listener, chain string
		want            bool
	}{
		{"inbound", splitFixtures, bookstore, envoy.InboundListenerName, "inbound|bookstore/bookstore|14001", true},
		{"ingress", ingressFixtures, bookstore, envoy.InboundListenerName, "ingress|bookstore/bookstore-v1|14001|https", true},
		{"outbound", splitFixtures, bookbuyer, envoy.OutboundListenerName, "outbound|bookstore/bookstore|14001", true},
		{"egress", egressFixtures, curl, envoy.OutboundListenerName, "egress|http|80", true},
		{"not Prometheus's", splitFixtures, bookbuyer, envoy.PrometheusListenerName, envoy.PrometheusListenerName, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := generate(t, tt.fixtures, tt.proxy)
			fc := chain(t, listener(t, r, tt.listener), tt.chain)
			hcm := unpack[*hcmv3.HttpConnectionManager](t, named(t, fc.GetFilters(), "envoy.filters.network.http_connection_manager", "filters of "+tt.chain).GetTypedConfig())
			var got []string
			for _, u := range hcm.GetUpgradeConfigs() {
				got = append(got, u.GetUpgradeType())
			}
			if want := []string{"websocket"}; slices.Equal(got, want) != tt.want {
				t.Errorf("upgrade types %q, want websocket: %v", got, tt.want)
			}
			logs := hcm.GetAccessLog()
			if (len(logs) == 1 && logs[0].GetName() == "envoy.access_loggers.stdout") != tt.want {
				t.Errorf("access logs %v, want the stdout access log: %v", logs, tt.want)
			}
		})
	}
}

// TestUpstreamClusters shows each kind of cluster's protocol, connect timeout
// and circuit breakers: api's UpstreamTrafficSetting sets a connect timeout
// and one connection limit only.
func TestUpstreamClusters(t *testing.T) {
	const unlimited = math.MaxUint32
	tests := []struct {
		name     string
		fixtures []string
		proxy    identity.Identity
		cluster  string
		// protocol is "downstream" (use_downstream_protocol_config), "http2"
		// (explicit) or "" (no HTTP protocol options).
		protocol string
		connect  time.Duration
		// breakers are max connections, pending requests, requests, retries.
		breakers [4]uint32
	}{
		{"an http port keeps the client's protocol", chatFixtures, chatClient, "chat/api|80", "downstream", 2 * time.Second, [4]uint32{50, unlimited, unlimited, unlimited}},
		{"a grpc port speaks HTTP/2", chatFixtures, chatClient, "chat/api|9090", "http2", 2 * time.Second, [4]uint32{50, unlimited, unlimited, unlimited}},
		{"a headless Service without a setting", chatFixtures, chatClient, "chat/rooms|80", "downstream", 5 * time.Second, [4]uint32{unlimited, unlimited, unlimited, unlimited}},
		{"a full setting", splitFixtures, bookbuyer, "bookstore/bookstore-v1|14001", "downstream", 5 * time.Second, [4]uint32{100, 200, 1000, 3}},
		{"a tcp port", splitFixtures, bookstore, "bookwarehouse/bookwarehouse|14001", "", 5 * time.Second, [4]uint32{unlimited, unlimited, unlimited, unlimited}},
		{"the local app on an http port", chatFixtures, chatAPI, "chat/api|80|local", "downstream", 5 * time.Second, [4]uint32{unlimited, unlimited, unlimited, unlimited}},
		{"the local app on a grpc port", chatFixtures, chatAPI, "chat/api|9090|local", "http2", 5 * time.Second, [4]uint32{unlimited, unlimited, unlimited, unlimited}},
		{"an Egress host", egressFixtures, curl, "httpbin.org:80", "downstream", 5 * time.Second, [4]uint32{unlimited, unlimited, unlimited, unlimited}},
		{"the original destination", egressFixtures, curl, envoy.PassthroughClusterName, "downstream", 5 * time.Second, [4]uint32{unlimited, unlimited, unlimited, unlimited}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := cluster(t, generate(t, tt.fixtures, tt.proxy), tt.cluster)
			if got := protocolOf(t, c); got != tt.protocol {
				t.Errorf("protocol %q, want %q", got, tt.protocol)
			}
			if got := c.GetConnectTimeout().AsDuration(); got != tt.connect {
				t.Errorf("connect timeout %v, want %v", got, tt.connect)
			}
			th := c.GetCircuitBreakers().GetThresholds()
			if len(th) != 1 {
				t.Fatalf("thresholds %v, want one set", th)
			}
			got := [4]uint32{th[0].GetMaxConnections().GetValue(), th[0].GetMaxPendingRequests().GetValue(), th[0].GetMaxRequests().GetValue(), th[0].GetMaxRetries().GetValue()}
			if got != tt.breakers || !th[0].GetTrackRemaining() {
				t.Errorf("circuit breakers %v (track remaining %v), want %v", got, th[0].GetTrackRemaining(), tt.breakers)
			}
		})
	}
	t.Run("an Egress host's stat name has no dot", func(t *testing.T) {
		if got := cluster(t, generate(t, egressFixtures, curl), "httpbin.org:80").GetAltStatName(); got != "httpbin_org_80" {
			t.Errorf("alt_stat_name %q, want httpbin_org_80", got)
		}
	})
}

func protocolOf(t *testing.T, c *clusterv3.Cluster) string {
	t.Helper()
	a := c.GetTypedExtensionProtocolOptions()["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
	if a == nil {
		return ""
	}
	opts := unpack[*httpv3.HttpProtocolOptions](t, a)
	switch {
	case opts.GetUseDownstreamProtocolConfig().GetHttp2ProtocolOptions() != nil:
		return "downstream"
	case opts.GetExplicitHttpConfig().GetHttp2ProtocolOptions() != nil:
		return "http2"
	}
	return "other"
}

func TestHostHeaderMatchesAuthority(t *testing.T) {
	fixtures := []string{"mesh.yaml", "bookstore.yaml", "egress.yaml", "host-match.yaml"}
	t.Run("in an RBAC permission", func(t *testing.T) {
		fc := chain(t, listener(t, generate(t, fixtures, bookstore), envoy.InboundListenerName), "inbound|bookstore/bookstore|14001")
		hcm := unpack[*hcmv3.HttpConnectionManager](t, fc.GetFilters()[0].GetTypedConfig())
		rbac := unpack[*rbachttpv3.RBAC](t, hcm.GetHttpFilters()[0].GetTypedConfig())
		h := rbac.GetRules().GetPolicies()["bookstore/bookbuyer-by-host"].GetPermissions()[0].GetHeader()
		if h.GetName() != ":authority" || h.GetStringMatch().GetSafeRegex().GetRegex() != `bookstore-v1\..*` {
			t.Errorf("header matcher %v, want :authority", h)
		}
	})
	t.Run("in a route match", func(t *testing.T) {
		vh := virtualHost(t, generate(t, fixtures, curl), "rds-egress.8080", "egress|httpbin.org:8080")
		h := vh.GetRoutes()[0].GetMatch().GetHeaders()
		if len(h) != 1 || h[0].GetName() != ":authority" || h[0].GetStringMatch().GetSafeRegex().GetRegex() != `httpbin\.org` {
			t.Errorf("header matchers %v, want :authority", h)
		}
	})
}

// TestConnectionRateLimitOnHTTPPorts: rateLimit.local.tcp limits an HTTP
// port's connections too, after a network RBAC that admits the sources only.
func TestConnectionRateLimitOnHTTPPorts(t *testing.T) {
	r := generate(t, chatFixtures, chatAPI)
	in := listener(t, r, envoy.InboundListenerName)
	for _, name := range []string{"inbound|chat/api|80", "inbound|chat/api|9090"} {
		t.Run(name, func(t *testing.T) {
			fc := chain(t, in, name)
			var got []string
			for _, f := range fc.GetFilters() {
				got = append(got, f.GetName())
			}
			want := []string{"envoy.filters.network.rbac", "envoy.filters.network.local_ratelimit", "envoy.filters.network.http_connection_manager"}
			if !slices.Equal(got, want) {
				t.Fatalf("filters %q, want %q", got, want)
			}
			rl := unpack[*netlrlv3.LocalRateLimit](t, fc.GetFilters()[1].GetTypedConfig())
			if b := rl.GetTokenBucket(); b.GetMaxTokens() != 100 || b.GetFillInterval().AsDuration() != time.Minute {
				t.Errorf("token bucket %v, want 100 a minute", b)
			}
			pol := unpack[*rbacnetv3.RBAC](t, fc.GetFilters()[0].GetTypedConfig()).GetRules().GetPolicies()["chat/clients-api"]
			var principals []string
			for _, p := range pol.GetPrincipals() {
				principals = append(principals, p.GetAuthenticated().GetPrincipalName().GetExact())
			}
			wantPrincipals := []string{"bookbuyer.bookbuyer.cluster.local", "spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer", "client.chat.cluster.local", "spiffe://cluster.local/ns/chat/sa/client"}
			if !slices.Equal(principals, wantPrincipals) || len(pol.GetPermissions()) != 1 || !pol.GetPermissions()[0].GetAny() {
				t.Errorf("network RBAC admits %q to %v, want %q to anything", principals, pol.GetPermissions(), wantPrincipals)
			}
			hcm := unpack[*hcmv3.HttpConnectionManager](t, fc.GetFilters()[2].GetTypedConfig())
			perms := unpack[*rbachttpv3.RBAC](t, hcm.GetHttpFilters()[0].GetTypedConfig()).GetRules().GetPolicies()["chat/clients-api"].GetPermissions()
			if len(perms) != 1 || perms[0].GetAny() {
				t.Errorf("the HTTP RBAC's permissions are %v, want the route's", perms)
			}
		})
	}
	t.Run("without a connection limit the HCM is alone", func(t *testing.T) {
		fc := chain(t, listener(t, generate(t, splitFixtures, bookstore), envoy.InboundListenerName), "inbound|bookstore/bookstore-v1|14001")
		if n := len(fc.GetFilters()); n != 1 {
			t.Errorf("%d filters, want the HTTP connection manager only", n)
		}
	})
}

func TestVirtualHostDomains(t *testing.T) {
	custom := mesh.Defaults()
	custom.ClusterDomain = "corp.example.org"
	tests := []struct {
		name          string
		cfg           mesh.Config
		fixtures      []string
		proxy         identity.Identity
		rds, vhost    string
		want, without []string
	}{
		{
			name: "a Service from its namespace", cfg: mesh.Defaults(), fixtures: chatFixtures, proxy: chatClient,
			rds: "rds-outbound.80", vhost: "outbound|chat/api|80",
			want: []string{"api", "api:80", "api.chat:80", "api.chat.svc:80", "api.chat.svc.cluster", "api.chat.svc.cluster:80", "api.chat.svc.cluster.local:80", "10.96.6.20:80"},
		},
		{
			name: "a Service from another namespace", cfg: mesh.Defaults(), fixtures: chatFixtures, proxy: bookbuyer,
			rds: "rds-outbound.80", vhost: "outbound|chat/api|80",
			want:    []string{"api.chat", "api.chat.svc.cluster:80", "api.chat.svc.cluster.local"},
			without: []string{"api", "api:80"},
		},
		{
			name: "a headless Service's pod from its namespace, on the pod's port", cfg: mesh.Defaults(), fixtures: chatFixtures, proxy: chatClient,
			rds: "rds-outbound.8080", vhost: "outbound|chat/rooms|80|8080",
			want: []string{"rooms-0.rooms", "rooms-0.rooms:8080", "rooms-0.rooms.chat", "rooms-0.rooms.chat:8080", "rooms-0.rooms.chat.svc:8080",
				"rooms-0.rooms.chat.svc.cluster", "rooms-0.rooms.chat.svc.cluster:8080", "rooms-0.rooms.chat.svc.cluster.local:8080", "10.244.6.30:8080"},
		},
		{
			name: "a headless Service's pod from another namespace", cfg: mesh.Defaults(), fixtures: chatFixtures, proxy: bookbuyer,
			rds: "rds-outbound.8080", vhost: "outbound|chat/rooms|80|8080",
			want:    []string{"rooms-0.rooms.chat", "rooms-0.rooms.chat:8080", "rooms-0.rooms.chat.svc.cluster:8080"},
			without: []string{"rooms-0.rooms", "rooms-0.rooms:8080"},
		},
		{
			name: "each shorter form of another cluster domain", cfg: custom, fixtures: []string{"mesh.yaml", "bookstore.yaml", "access.yaml"}, proxy: bookbuyer,
			rds: "rds-outbound.14001", vhost: "outbound|bookstore/bookstore|14001",
			want:    []string{"bookstore.bookstore.svc.corp", "bookstore.bookstore.svc.corp.example:14001", "bookstore.bookstore.svc.corp.example.org"},
			without: []string{"bookstore.bookstore.svc.cluster", "bookstore.bookstore.svc.cluster.local"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := envoy.Generate(loadModelWith(t, tt.cfg, tt.fixtures...), envoy.Proxy{Identity: tt.proxy})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Validate(); err != nil {
				t.Fatal(err)
			}
			domains := virtualHost(t, r, tt.rds, tt.vhost).GetDomains()
			for _, d := range tt.want {
				if !slices.Contains(domains, d) {
					t.Errorf("domains lack %s: %q", d, domains)
				}
			}
			for _, d := range tt.without {
				if slices.Contains(domains, d) {
					t.Errorf("domains have %s, which does not resolve there: %q", d, domains)
				}
			}
		})
	}
}
