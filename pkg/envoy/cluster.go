package envoy

import (
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

// defaultConnectTimeout is OSM's connect timeout for every cluster.
const defaultConnectTimeout = time.Second

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// clusters is the clusters pass: the clusters the plan names.
func (g *gen) clusters() []*clusterv3.Cluster {
	p := g.plan
	out := make([]*clusterv3.Cluster, 0, len(p.services)+len(p.locals)+len(p.egress)+2)
	for _, sp := range p.services {
		out = append(out, g.newServiceCluster(sp))
	}
	for _, l := range p.locals {
		c := staticCluster(l.name, "127.0.0.1", l.port)
		c.TypedExtensionProtocolOptions = g.protocolOptions(l.protocol, nil)
		out = append(out, c)
	}
	out = append(out, newEgressClusters(p.egress)...)
	f := g.fixed()
	if p.passthrough {
		out = append(out, f.passthrough)
	}
	return append(out, f.metrics)
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
// the first that sets some. They are the proxy's own: which rules apply, and
// in which order, is the identity's.
func newEgressClusters(uses []egressUse) []*clusterv3.Cluster {
	var out []*clusterv3.Cluster
	byName := map[string]*clusterv3.Cluster{}
	for _, e := range uses {
		name := EgressClusterName(e.host, e.port)
		if c := byName[name]; c != nil {
			if c.CircuitBreakers == nil {
				c.CircuitBreakers = circuitBreakers(e.uts)
			}
			continue
		}
		c := &clusterv3.Cluster{
			Name:                 name,
			AltStatName:          name,
			ConnectTimeout:       connectTimeout(e.uts),
			ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS},
			DnsLookupFamily:      clusterv3.Cluster_V4_PREFERRED,
			LoadAssignment:       singleEndpoint(name, e.host, uint32(e.port)),
			CircuitBreakers:      circuitBreakers(e.uts),
		}
		byName[name] = c
		out = append(out, c)
	}
	return out
}

// newPassthroughCluster connects to a connection's original destination.
func newPassthroughCluster() *clusterv3.Cluster {
	return &clusterv3.Cluster{
		Name:                 PassthroughClusterName,
		ConnectTimeout:       durationpb.New(defaultConnectTimeout),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
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

// protocolOptions speak HTTP/2 upstream for http2 and grpc ports, and set the
// UpstreamTrafficSetting's requests per connection; nil when there is neither.
func (g *gen) protocolOptions(proto catalog.Protocol, uts *catalog.UpstreamTrafficSetting) map[string]*anypb.Any {
	var perConn *uint32
	if uts != nil {
		perConn = uts.MaxRequestsPerConnection
	}
	h2 := proto == catalog.ProtocolHTTP2 || proto == catalog.ProtocolGRPC
	if !h2 && (perConn == nil || !proto.IsHTTP()) {
		return nil
	}
	opts := &httpv3.HttpProtocolOptions{}
	if h2 {
		opts.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{}},
		}}
	} else {
		opts.UpstreamProtocolOptions = &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_HttpProtocolOptions{HttpProtocolOptions: &corev3.Http1ProtocolOptions{}},
		}}
	}
	if perConn != nil && proto.IsHTTP() {
		opts.CommonHttpProtocolOptions = &corev3.HttpProtocolOptions{MaxRequestsPerConnection: wrapperspb.UInt32(*perConn)}
	}
	return map[string]*anypb.Any{httpProtocolOptionsKey: g.any(opts)}
}

func connectTimeout(uts *catalog.UpstreamTrafficSetting) *durationpb.Duration {
	if uts != nil && uts.ConnectTimeout >= time.Millisecond {
		return durationpb.New(uts.ConnectTimeout)
	}
	return durationpb.New(defaultConnectTimeout)
}

// circuitBreakers are the UpstreamTrafficSetting's connection limits, or nil.
func circuitBreakers(uts *catalog.UpstreamTrafficSetting) *clusterv3.CircuitBreakers {
	if uts == nil {
		return nil
	}
	t := &clusterv3.CircuitBreakers_Thresholds{}
	set := false
	u32 := func(v *uint32) *wrapperspb.UInt32Value {
		if v == nil {
			return nil
		}
		set = true
		return wrapperspb.UInt32(*v)
	}
	t.MaxConnections = u32(uts.MaxConnections)
	t.MaxRequests = u32(uts.MaxRequests)
	t.MaxPendingRequests = u32(uts.MaxPendingRequests)
	t.MaxRetries = u32(uts.MaxRetries)
	if !set {
		return nil
	}
	return &clusterv3.CircuitBreakers{Thresholds: []*clusterv3.CircuitBreakers_Thresholds{t}}
}
