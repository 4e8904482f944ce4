package envoy

import (
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/catalog"
)

// defaultConnectTimeout is OSM's connect timeout for every cluster.
const defaultConnectTimeout = time.Second

const httpProtocolOptionsKey = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"

// serviceCluster makes (once) the cluster of a mesh Service port, reached over
// mTLS: EDS over ADS, or ORIGINAL_DST for a headless Service, whose clients
// address one pod at a time.
func (g *gen) serviceCluster(svc *catalog.Service, port catalog.ServicePort) string {
	name := ClusterName(svc.ServiceRef, port.Port)
	if _, done := g.clusters[name]; done {
		return name
	}
	uts := svc.UpstreamTrafficSetting
	c := &clusterv3.Cluster{
		Name:            name,
		AltStatName:     name,
		ConnectTimeout:  connectTimeout(uts),
		TransportSocket: g.upstreamTLS(svc),
		CircuitBreakers: circuitBreakers(uts),
	}
	if svc.Headless {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST}
		c.LbPolicy = clusterv3.Cluster_CLUSTER_PROVIDED
	} else {
		c.ClusterDiscoveryType = &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS}
		c.EdsClusterConfig = &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()}
		g.endpoints[name] = loadAssignment(name, svc, port)
	}
	g.protocolOptions(c, port.Protocol, uts)
	g.clusters[name] = c
	return name
}

// localCluster makes (once) the cluster of the local app behind a Service port.
func (g *gen) localCluster(svc catalog.ServiceRef, port catalog.ServicePort, targetPort uint32) string {
	name := LocalClusterName(svc, port.Port)
	if _, done := g.clusters[name]; done {
		return name
	}
	c := staticCluster(name, "127.0.0.1", targetPort)
	g.protocolOptions(c, port.Protocol, nil)
	g.clusters[name] = c
	return name
}

// passthroughCluster makes the cluster that connects to a connection's
// original destination.
func (g *gen) passthroughCluster() string {
	g.clusters[PassthroughClusterName] = &clusterv3.Cluster{
		Name:                 PassthroughClusterName,
		ConnectTimeout:       durationpb.New(defaultConnectTimeout),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_ORIGINAL_DST},
		LbPolicy:             clusterv3.Cluster_CLUSTER_PROVIDED,
	}
	return PassthroughClusterName
}

// egressCluster makes (once) the cluster of an Egress host and port, resolved
// by DNS. The proxy does not originate TLS: HTTPS passes through.
func (g *gen) egressCluster(host string, port int32, uts *catalog.UpstreamTrafficSetting) string {
	name := EgressClusterName(host, port)
	if c, done := g.clusters[name]; done {
		if c.CircuitBreakers == nil {
			c.CircuitBreakers = circuitBreakers(uts)
		}
		return name
	}
	g.clusters[name] = &clusterv3.Cluster{
		Name:                 name,
		AltStatName:          name,
		ConnectTimeout:       connectTimeout(uts),
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS},
		DnsLookupFamily:      clusterv3.Cluster_V4_PREFERRED,
		LoadAssignment:       singleEndpoint(name, host, uint32(port)),
		CircuitBreakers:      circuitBreakers(uts),
	}
	return name
}

func (g *gen) metricsCluster() string {
	g.clusters[MetricsClusterName] = staticCluster(MetricsClusterName, "127.0.0.1", AdminPort)
	return MetricsClusterName
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

// protocolOptions speaks HTTP/2 upstream for http2 and grpc ports, and sets
// the UpstreamTrafficSetting's requests per connection.
func (g *gen) protocolOptions(c *clusterv3.Cluster, proto catalog.Protocol, uts *catalog.UpstreamTrafficSetting) {
	var perConn *uint32
	if uts != nil {
		perConn = uts.MaxRequestsPerConnection
	}
	h2 := proto == catalog.ProtocolHTTP2 || proto == catalog.ProtocolGRPC
	if !h2 && (perConn == nil || !proto.IsHTTP()) {
		return
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
	c.TypedExtensionProtocolOptions = map[string]*anypb.Any{httpProtocolOptionsKey: g.any(opts)}
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
