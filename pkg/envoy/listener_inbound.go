package envoy

import (
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/catalog"
)

// inboundListener is where iptables sends connections to the pod: a filter
// chain per local Service port, matched by the pod's port and the SNI clients
// set (the Service's DNS name), terminating mTLS and authorising with RBAC;
// then the IngressBackend chains. Nil when the proxy serves nothing.
func (g *gen) inboundListener() *listenerv3.Listener {
	cs := newChainSet()
	for _, in := range g.view.Inbound {
		g.inboundChain(cs, in)
	}
	g.ingressChains(cs)
	if len(cs.chains) == 0 {
		return nil
	}
	return &listenerv3.Listener{
		Name:             InboundListenerName,
		Address:          socketAddress("0.0.0.0", InboundListenerPort),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		ListenerFilters:  []*listenerv3.ListenerFilter{g.originalDst(), g.tlsInspector()},
		FilterChains:     cs.chains,
	}
}

// inboundChain admits mesh clients to one local Service port.
func (g *gen) inboundChain(cs *chainSet, in catalog.InboundPort) {
	tp, ok := g.targetPort(in.Service, in.Port)
	if !ok {
		return
	}
	sni := []string{in.Service.FQDN(g.model.Settings.ClusterDomain)}
	if !cs.claim(matchKey(tp, sni, "tls", nil)) {
		return
	}
	name := "inbound|" + ClusterName(in.Service, in.Port.Port)
	local := g.localCluster(in.Service, in.Port, tp)
	fc := &listenerv3.FilterChain{
		Name: name,
		FilterChainMatch: &listenerv3.FilterChainMatch{
			DestinationPort:   wrapperspb.UInt32(tp),
			ServerNames:       sni,
			TransportProtocol: "tls",
		},
		TransportSocket: g.downstreamTLS(true),
	}
	pol := g.inboundPolicies(in)
	if in.Port.Protocol.IsHTTP() {
		fc.Filters = []*listenerv3.Filter{g.inboundHCM(name, in.Service, in.Port, local, pol, in.UpstreamTrafficSetting)}
	} else {
		fc.Filters = g.inboundTCP(name, local, pol, in.UpstreamTrafficSetting)
	}
	cs.add(fc)
}

// inboundHCM serves HTTP to the local app: RBAC, then the rate limits, then
// the port's routes, with paths normalised before RBAC reads them.
func (g *gen) inboundHCM(statPrefix string, svc catalog.ServiceRef, port catalog.ServicePort, local string, pol policies, uts *catalog.UpstreamTrafficSetting) *listenerv3.Filter {
	filters := []*hcmv3.HttpFilter{g.httpFilter(wellknown.HTTPRoleBasedAccessControl, g.httpRBAC(pol))}
	if rl := g.httpRateLimit(portHTTPRateLimit(uts), statPrefix); rl != nil {
		filters = append(filters, g.httpFilter(httpLocalRateLimitFilter, rl))
	} else if hasRouteRateLimits(uts) {
		filters = append(filters, g.httpFilter(httpLocalRateLimitFilter, emptyHTTPRateLimit(statPrefix)))
	}
	return g.hcm(hcmOptions{
		statPrefix: statPrefix,
		rds:        g.inboundRoutes(svc, port, local, uts),
		filters:    filters,
		safePaths:  true,
	})
}

// inboundTCP serves TCP to the local app: RBAC, the connection rate limit,
// then tcp_proxy.
func (g *gen) inboundTCP(statPrefix, local string, pol policies, uts *catalog.UpstreamTrafficSetting) []*listenerv3.Filter {
	filters := []*listenerv3.Filter{g.networkFilter(wellknown.RoleBasedAccessControl, g.networkRBAC(pol, statPrefix))}
	if rl := tcpRateLimit(uts, statPrefix); rl != nil {
		filters = append(filters, g.networkFilter(networkLocalRateLimitFilter, rl))
	}
	return append(filters, g.tcpProxy(statPrefix, []target{{cluster: local}}))
}

// targetPort is the pod's port behind a Service port: the targetPort number,
// or for a named targetPort the number this pod's endpoint (by the proxy's
// IPs, else any endpoint of the proxy's identity) gives it.
func (g *gen) targetPort(svc catalog.ServiceRef, port catalog.ServicePort) (uint32, bool) {
	if port.TargetPort > 0 && port.TargetPort <= 65535 {
		return uint32(port.TargetPort), true
	}
	s := g.model.Service(svc)
	if s == nil {
		return 0, false
	}
	var byIdentity int32
	for _, ep := range s.Endpoints {
		if ep.PortName != port.Name || ep.Port < 1 || ep.Port > 65535 {
			continue
		}
		if slices.Contains(g.proxy.IPs, ep.IP) {
			return uint32(ep.Port), true
		}
		if byIdentity == 0 && ep.Identity == g.view.Identity {
			byIdentity = ep.Port
		}
	}
	return uint32(byIdentity), byIdentity != 0
}
