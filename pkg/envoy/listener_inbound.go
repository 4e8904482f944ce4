package envoy

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"

	"github.com/weft-mesh/weft/catalog"
)

// inboundListener is where iptables sends connections to the pod: the
// planned chains of local Service ports (planInbound), which terminate mTLS,
// then those of IngressBackends (planIngress); each authorises with RBAC and
// applies the port's rate limits. Nil when the proxy serves nothing.
func (g *gen) inboundListener() *listenerv3.Listener {
	if len(g.plan.inbound) == 0 {
		return nil
	}
	l := &listenerv3.Listener{
		Name:             InboundListenerName,
		Address:          socketAddress("0.0.0.0", InboundListenerPort),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		ListenerFilters:  []*listenerv3.ListenerFilter{g.originalDst(), g.tlsInspector()},
	}
	for _, ch := range g.plan.inbound {
		fc := filterChain(ch)
		local := ch.local
		if local.tls {
			fc.TransportSocket = g.downstreamTLS(local.verify)
		}
		var pol policies
		if local.mesh != nil {
			pol = g.inboundPolicies(*local.mesh)
		} else {
			pol = ingressPolicies(local.ingress, local.verify, local.rds != "")
		}
		if local.rds != "" {
			fc.Filters = g.inboundHTTP(ch.stat, local.rds, pol, local.uts)
		} else {
			fc.Filters = g.inboundTCP(ch.stat, local.cluster, pol, local.uts)
		}
		l.FilterChains = append(l.FilterChains, fc)
	}
	return l
}

// inboundHTTP serves HTTP to the local app. A connection rate limit comes
// before the HTTP connection manager, as OSM's, behind a network RBAC that
// admits the policies' principals only, so that a client that may send
// nothing cannot spend the budget (the HCM's RBAC still checks each request).
func (g *gen) inboundHTTP(statPrefix, rds string, pol policies, uts *catalog.UpstreamTrafficSetting) []*listenerv3.Filter {
	var filters []*listenerv3.Filter
	if rl := tcpRateLimit(uts, statPrefix); rl != nil {
		filters = append(filters,
			g.networkFilter(wellknown.RoleBasedAccessControl, g.networkRBAC(pol.principalsOnly(), statPrefix)),
			g.networkFilter(networkLocalRateLimitFilter, rl))
	}
	return append(filters, g.inboundHCM(statPrefix, rds, pol, uts))
}

// inboundHCM serves HTTP to the local app: active health checks answered
// (when on), RBAC, external authorization (when on), then the rate limits,
// then the port's routes, with paths normalised before RBAC reads them.
func (g *gen) inboundHCM(statPrefix, rds string, pol policies, uts *catalog.UpstreamTrafficSetting) *listenerv3.Filter {
	var filters []*hcmv3.HttpFilter
	if g.model.Settings.ActiveHealthChecks {
		filters = append(filters, g.healthCheckFilter())
	}
	filters = append(filters, g.httpFilter(wellknown.HTTPRoleBasedAccessControl, g.httpRBAC(pol)))
	if f := g.extAuthzFilter(); f != nil {
		filters = append(filters, f)
	}
	if rl := g.httpRateLimit(portHTTPRateLimit(uts), statPrefix); rl != nil {
		filters = append(filters, g.httpFilter(httpLocalRateLimitFilter, rl))
	} else if hasRouteRateLimits(uts) {
		filters = append(filters, g.httpFilter(httpLocalRateLimitFilter, emptyHTTPRateLimit(statPrefix)))
	}
	return g.hcm(hcmOptions{
		statPrefix:  statPrefix,
		rds:         rds,
		filters:     filters,
		safePaths:   true,
		meshTraffic: true,
	})
}

// inboundTCP serves TCP to the local app: RBAC, the connection rate limit,
// then tcp_proxy.
func (g *gen) inboundTCP(statPrefix, local string, pol policies, uts *catalog.UpstreamTrafficSetting) []*listenerv3.Filter {
	filters := []*listenerv3.Filter{g.networkFilter(wellknown.RoleBasedAccessControl, g.networkRBAC(pol, statPrefix))}
	if rl := tcpRateLimit(uts, statPrefix); rl != nil {
		filters = append(filters, g.networkFilter(networkLocalRateLimitFilter, rl))
	}
	return append(filters, g.tcpProxy(statPrefix, []target{{cluster: local}}, true))
}
