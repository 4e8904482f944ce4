package envoy

import (
	"math"
	"strings"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/catalog"
)

// defaultConnectTimeout is every cluster's unless an UpstreamTrafficSetting
// sets one: Envoy's own default, which OSM left in place.
const defaultConnectTimeout = 5 * time.Second

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// clusters is the clusters pass: the clusters the plan names.
func (g *gen) clusters() []*clusterv3.Cluster {
	p := g.plan
	out := make([]*clusterv3.Cluster, 0, len(p.services)+len(p.locals)+len(p.egress)+2)
	for _, sp := range p.services {
		out = append(out, g.newServiceCluster(sp))
	}
	for _, l := range p.locals {
		c := g.localAppCluster(l.name, l.port)
		c.TypedExtensionProtocolOptions = g.protocolOptions(l.protocol, nil)
		c.CircuitBreakers = circuitBreakers(nil)
		out = append(out, c)
	}
	out = append(out, g.newEgressClusters(p.egress)...)
	f := g.fixed()
	if p.passthrough {
		out = append(out, f.passthrough)
	}
	if g.proxy.Metrics {
		out = append(out, f.metrics)
	}
	if f.tracing != nil {
		out = append(out, f.tracing)
	}
	return out
}

// upstream is the part of a Service port's cluster that every proxy has
// alike, so shares: all but the UpstreamTlsContext, which names the proxy's
// own certificate.
type upstream struct {
	name            string
	headless        bool
	connectTimeout  *durationpb.Duration
	breakers        *clusterv3.CircuitBreakers
	eds             *clusterv3.Cluster_EdsClusterConfig
	protocolOptions map[string]*anypb.Any
	sni             string
	// peers match the Service's identities; roots name its trust bundle.
	peers *tlsv3.CertificateValidationContext
	roots *tlsv3.SdsSecretConfig
	// healthChecks, with active health checks on, check an HTTP port's
	// endpoints.
	healthChecks []*corev3.HealthCheck
}

func (g *gen) upstream(sp servicePort) *upstream {
	return shared(g, &g.upstreams, sp, func(mg *gen) *upstream {
		svc, uts := sp.svc, sp.svc.UpstreamTrafficSetting
		u := &upstream{
			name:            ClusterName(svc.ServiceRef, sp.port.Port),
			headless:        svc.Headless,
			connectTimeout:  connectTimeout(uts),
			breakers:        circuitBreakers(uts),
			protocolOptions: mg.protocolOptions(sp.port.Protocol, uts),
			sni:             svc.FQDN(g.model.Settings.ClusterDomain),
			peers:           &tlsv3.CertificateValidationContext{MatchTypedSubjectAltNames: mg.identitySANs(svc.Identities)},
			roots:           sdsConfig(OutboundRootSecretName(svc.ServiceRef)),
		}
		if !svc.Headless {
			u.eds = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()}
			if g.model.Settings.ActiveHealthChecks && sp.port.Protocol.IsHTTP() {
				u.healthChecks = activeHealthChecks(u.sni)
			}
		}
		return u
	})
}

// newServiceCluster is the cluster of a mesh Service port, reached over mTLS:
// EDS over ADS, or ORIGINAL_DST for a headless Service, whose clients address
// one pod at a time. Only the top-level message and its TLS context are the
// proxy's own; the rest is the Generator's (upstream).
func (g *gen) newServiceCluster(sp servicePort) *clusterv3.Cluster {
	u := g.upstream(sp)
	c := &clusterv3.Cluster{
		Name:                          u.name,
		AltStatName:                   u.name,
		ConnectTimeout:                u.connectTimeout,
		TransportSocket:               g.upstreamTLS(u),
		CircuitBreakers:               u.breakers,
		EdsClusterConfig:              u.eds,
		TypedExtensionProtocolOptions: u.protocolOptions,
		HealthChecks:                  u.healthChecks,
	}
	if u.headless {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}
		c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
	} else {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
	}
	return c
}

// newEgressClusters are the clusters of Egress hosts and ports, resolved by
// DNS. The proxy does not originate TLS: HTTPS passes through. A host's
// connect timeout is the first rule's that names it; its connection limits
// and requests per connection the first that sets some. They are the proxy's
// own: which rules apply, and in which order, is the identity's.
func (g *gen) newEgressClusters(uses []egressUse) []*clusterv3.Cluster {
	var first []egressUse
	seen := map[string]bool{}
	limits := map[string]*catalog.UpstreamTrafficSetting{}
	for _, e := range uses {
		name := EgressClusterName(e.host, e.port)
		if !seen[name] {
			seen[name] = true
			first = append(first, e)
		}
		if limits[name] == nil && hasConnectionLimits(e.uts) {
			limits[name] = e.uts
		}
	}
	out := make([]*clusterv3.Cluster, 0, len(first))
	for _, e := range first {
		name := EgressClusterName(e.host, e.port)
		out = append(out, &clusterv3.Cluster{
			Name:                          name,
			AltStatName:                   statName(name),
			ConnectTimeout:                connectTimeout(e.uts),
			ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS},
			DnsLookupFamily:               clusterv3.Cluster_V4_PREFERRED,
			LoadAssignment:                singleEndpoint(name, e.host, uint32(e.port)),
			CircuitBreakers:               circuitBreakers(limits[name]),
			TypedExtensionProtocolOptions: g.protocolOptions(catalog.ProtocolHTTP, limits[name]),
		})
	}
	return out
}

// statName is a cluster's name in its statistics: Envoy's tag extraction
// ends a cluster's name at its first dot, so an Egress host's dots (and the
// colon) become underscores, as OSM's (httpbin_org_80).
func statName(cluster string) string {
	return strings.NewReplacer(".", "_", ":", "_").Replace(cluster)
}

// newPassthroughCluster connects to a connection's original destination, in
// HTTP the downstream's protocol, as OSM's.
func (g *gen) newPassthroughCluster() *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                          PassthroughClusterName,
		ConnectTimeout:                durationpb.New(defaultConnectTimeout),
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:                      clusterv3.Cluster_CLUSTER_PROVIDED,
		CircuitBreakers:               circuitBreakers(nil),
		TypedExtensionProtocolOptions: g.protocolOptions(catalog.ProtocolHTTP, nil),
	}
}

// localAppCluster reaches the app on port: on 127.0.0.1, or, with
// sidecar.localProxyMode PodIP, on the pod's own address, which is the
// connection's original destination (inbound connections were redirected
// from it, probes arrive at it) with the app's port in place of its port.
func (g *gen) localAppCluster(name string, port uint32) *clusterv3.Cluster {
	if !g.model.Settings.LocalProxyPodIP {
		return staticCluster(name, "127.0.0.1", port)
	}
	return &clusterv3.Cluster{
		Name:                 name,
		AltStatName:          name,
		ConnectTimeout:       durationpb.New(defaultConnectTimeout),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
		LbConfig: &clusterv3.Cluster_OriginalDstLbConfig_{OriginalDstLbConfig: &clusterv3.Cluster_OriginalDstLbConfig{
			UpstreamPortOverride: wrapperspb.UInt32(port),
		}},
	}
}

func staticCluster(name, host string, port uint32) *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 name,
		AltStatName:          name,
		ConnectTimeout:       durationpb.New(defaultConnectTimeout),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_STATIC},
		LoadAssignment:       singleEndpoint(name, host, port),
	}
}

func singleEndpoint(cluster, host string, port uint32) *endpointv3.ClusterLoadAssignment {
	return &endpointv3.ClusterLoadAssignment{
		ClusterName: cluster,
		Endpoints: []*endpointv3.LocalityLbEndpoints{{LbEndpoints: []*endpointv3.LbEndpoint{{
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(host, port)}},
		}}}},
	}
}

// protocolOptions are an HTTP port's upstream protocol: HTTP/2 on http2 and
// grpc ports, else the downstream's, as OSM (so h2c and gRPC on a port named
// http stay HTTP/2), with the UpstreamTrafficSetting's requests per
// connection; nil for other ports.
func (g *gen) protocolOptions(proto catalog.Protocol, uts *catalog.UpstreamTrafficSetting) map[string]*anypb.Any {
	if !proto.IsHTTP() {
		return nil
	}
	opts := &httpv3.HttpProtocolOptions{}
	if proto == catalog.ProtocolHTTP2 || proto == catalog.ProtocolGRPC {
		opts.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}}
	} else {
		opts.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_UseDownstreamProtocolConfig{UseDownstreamProtocolConfig: &httpv3.HttpProtocolOptions_UseDownstreamHttpConfig{
			Http2ProtocolOptions: &corev3.Http2ProtocolOptions{},
		}}
	}
	if uts != nil && uts.MaxRequestsPerConnection != nil {
		opts.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{MaxRequestsPerConnection: wrapperspb.UInt32(*uts.MaxRequestsPerConnection)}
	}
	return map[string]*anypb.Any{httpProtocolOptionsKey: g.any(opts)}
}

func connectTimeout(uts *catalog.UpstreamTrafficSetting) *durationpb.Duration {
	if uts != nil && uts.ConnectTimeout >= time.Millisecond {
		return durationpb.New(uts.ConnectTimeout)
	}
	return durationpb.New(defaultConnectTimeout)
}

// circuitBreakers are the UpstreamTrafficSetting's connection limits, those
// it leaves unset (or all, without one) unlimited, as OSM: Envoy's defaults
// (1024 connections, pending and active requests, 3 concurrent retries)
// answer 503 under load and to Retry policies.
func circuitBreakers(uts *catalog.UpstreamTrafficSetting) *clusterv3.CircuitBreakers {
	var u catalog.UpstreamTrafficSetting
	if uts != nil {
		u = *uts
	}
	limit := func(v *uint32) *wrapperspb.UInt32Value {
		if v == nil {
			return wrapperspb.UInt32(math.MaxUint32)
		}
		return wrapperspb.UInt32(*v)
	}
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{{
		MaxConnections:     limit(u.MaxConnections),
		MaxPendingRequests: limit(u.MaxPendingRequests),
		MaxRequests:        limit(u.MaxRequests),
		MaxRetries:         limit(u.MaxRetries),
		TrackRemaining:     true,
	}}}
}

// hasConnectionLimits reports whether uts sets a circuit breaker or the
// requests per connection.
func hasConnectionLimits(uts *catalog.UpstreamTrafficSetting) bool {
	return uts != nil && (uts.MaxConnections != nil || uts.MaxRequests != nil || uts.MaxPendingRequests != nil ||
		uts.MaxRetries != nil || uts.MaxRequestsPerConnection != nil)
}
