package envoy

import (
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	originaldstv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/original_dst/v3"
	tlsinspectorv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/listener/tls_inspector/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// Filter names not in go-control-plane's wellknown.
const (
	httpLocalRateLimitFilter    = "envoy.filters.http.local_ratelimit"
	networkLocalRateLimitFilter = "envoy.filters.network.local_ratelimit"
)

// adsSource is the config source of every dynamic resource: the ADS stream.
func adsSource() *corev3.ConfigSource {
	return &corev3.ConfigSource{
		ConfigSourceSpecifier: &corev3.ConfigSource_Ads{Ads: &corev3.AggregatedConfigSource{}},
		ResourceApiVersion:    corev3.ApiVersion_V3,
	}
}

func socketAddress(host string, port uint32) *corev3.Address {
	return &corev3.Address{Address: &corev3.Address_SocketAddress{SocketAddress: &corev3.SocketAddress{
		Protocol:      corev3.SocketAddress_TCP,
		Address:       host,
		PortSpecifier: &corev3.SocketAddress_PortValue{PortValue: port},
	}}}
}

func cidr(p netip.Prefix) *corev3.CidrRange {
	return &corev3.CidrRange{AddressPrefix: p.Addr().String(), PrefixLen: wrapperspb.UInt32(uint32(p.Bits()))}
}

func (g *gen) listenerFilter(name string, m proto.Message) *listenerv3.ListenerFilter {
	return &listenerv3.ListenerFilter{Name: name, ConfigType: &listenerv3.ListenerFilter_TypedConfig{TypedConfig: g.any(m)}}
}

func (g *gen) originalDst() *listenerv3.ListenerFilter {
	return g.listenerFilter(wellknown.OriginalDestination, &originaldstv3.OriginalDst{})
}

func (g *gen) tlsInspector() *listenerv3.ListenerFilter {
	return g.listenerFilter(wellknown.TlsInspector, &tlsinspectorv3.TlsInspector{})
}

func (g *gen) networkFilter(name string, m proto.Message) *listenerv3.Filter {
	return &listenerv3.Filter{Name: name, ConfigType: &listenerv3.Filter_TypedConfig{TypedConfig: g.any(m)}}
}

func (g *gen) httpFilter(name string, m proto.Message) *hcmv3.HttpFilter {
	return &hcmv3.HttpFilter{Name: name, ConfigType: &hcmv3.HttpFilter_TypedConfig{TypedConfig: g.any(m)}}
}

// hcmOptions shape an HTTP connection manager.
type hcmOptions struct {
	statPrefix string
	// rds names the route configuration served over ADS; routes is an inline
	// one, used when rds is empty.
	rds    string
	routes *routev3.RouteConfiguration
	// filters run before the router.
	filters []*hcmv3.HttpFilter
	// safePaths normalises paths before filters see them, so that an RBAC path
	// rule cannot be bypassed with %2F, "//" or "/./".
	safePaths bool
	// meshTraffic marks the HCMs of mesh traffic (inbound, outbound, ingress,
	// egress): they accept WebSocket upgrades, keep an access log and trace
	// (when the MeshConfig turns tracing on), as OSM's do.
	meshTraffic bool
	// edge marks a gateway's HCMs, which clients outside the mesh reach:
	// the peer's address is the client's, and X-Forwarded-For is appended
	// to, not trusted (Envoy's edge proxy practice).
	edge bool
}

func (g *gen) hcm(o hcmOptions) *listenerv3.Filter {
	m := &hcmv3.HttpConnectionManager{
		CodecType:   hcmv3.HttpConnectionManager_AUTO,
		StatPrefix:  o.statPrefix,
		HttpFilters: append(o.filters, g.httpFilter(wellknown.Router, &routerv3.Router{})),
	}
	if o.rds != "" {
		m.RouteSpecifier = &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: adsSource(), RouteConfigName: o.rds}}
	} else {
		m.RouteSpecifier = &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: o.routes}
	}
	if o.safePaths {
		m.NormalizePath = wrapperspb.Bool(true)
		m.MergeSlashes = true
		m.PathWithEscapedSlashesAction = hcmv3.HttpConnectionManager_UNESCAPE_AND_REDIRECT
	}
	if o.edge {
		m.UseRemoteAddress = wrapperspb.Bool(true)
	}
	if o.meshTraffic {
		m.UpgradeConfigs = []*hcmv3.HttpConnectionManager_UpgradeConfig{{UpgradeType: "websocket"}}
		shared := g.meshHTTP()
		m.AccessLog, m.Tracing = shared.accessLog, shared.tracing
	}
	return g.networkFilter(wellknown.HTTPConnectionManager, m)
}

// target is a cluster and its weight in a split; a single target carries
// weight 0 and no split.
type target struct {
	cluster string
	weight  uint32
}

// tcpProxy proxies to targets; with logged, each connection is in the
// access log (mesh traffic, not health probes).
func (g *gen) tcpProxy(statPrefix string, targets []target, logged bool) *listenerv3.Filter {
	m := &tcpproxyv3.TcpProxy{StatPrefix: statPrefix}
	if logged {
		m.AccessLog = g.meshHTTP().accessLog
	}
	if len(targets) == 1 {
		m.ClusterSpecifier = &tcpproxyv3.TcpProxy_Cluster{Cluster: targets[0].cluster}
	} else {
		wc := &tcpproxyv3.TcpProxy_WeightedCluster{}
		for _, t := range targets {
			wc.Clusters = append(wc.Clusters, &tcpproxyv3.TcpProxy_WeightedCluster_ClusterWeight{Name: t.cluster, Weight: t.weight})
		}
		m.ClusterSpecifier = &tcpproxyv3.TcpProxy_WeightedClusters{WeightedClusters: wc}
	}
	return g.networkFilter(wellknown.TCPProxy, m)
}
