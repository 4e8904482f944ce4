package envoy

import (
	"slices"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	typev3 "github.com/envoyproxy/go-control-plane/envoy/type/v3"
)

// outboundListener is where iptables sends the app's outgoing connections:
// the original_dst listener filter restores each connection's destination, and
// a filter chain per reachable Service port (planOutbound) and per Egress
// match (planEgress) matches it by address, port or SNI. Egress passthrough is
// the default chain. Nil when nothing at all may go out.
//
// The listener does not set use_original_dst: handing connections to another
// listener bound to the destination port would let an outgoing connection to a
// remote port 15003 or 15010 land on this proxy's own listeners.
func (g *gen) outboundListener() *listenerv3.Listener {
	l := &listenerv3.Listener{
		Name:             OutboundListenerName,
		Address:          socketAddress("0.0.0.0", OutboundListenerPort),
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		ListenerFilters:  []*listenerv3.ListenerFilter{g.originalDst()},
	}
	needSNI := false
	var serverFirst []uint32
	for _, ch := range g.plan.outbound {
		fc := filterChain(ch)
		if ch.rds != "" {
			fc.Filters = []*listenerv3.Filter{g.rdsFilter(ch.rds)}
		} else {
			fc.Filters = []*listenerv3.Filter{g.tcpProxy(ch.stat, ch.tcp, true)}
		}
		needSNI = needSNI || len(ch.serverNames) > 0
		if ch.serverFirst && !slices.Contains(serverFirst, ch.port) {
			serverFirst = append(serverFirst, ch.port)
		}
		l.FilterChains = append(l.FilterChains, fc)
	}
	if needSNI {
		tls := g.tlsInspector()
		// The client of a server-first protocol sends nothing until the server
		// has spoken: the inspector would hold its connection until it times out.
		tls.FilterDisabled = portsPredicate(serverFirst)
		l.ListenerFilters = append(l.ListenerFilters, tls)
		// A server-first protocol the predicate cannot know (on a port
		// matched by address or passed through) still proceeds when the
		// inspector times out, to the chains that need no server name.
		l.ContinueOnListenerFiltersTimeout = true
	}
	if g.view.EgressPassthrough {
		l.DefaultFilterChain = &listenerv3.FilterChain{
			Name:    "outbound|egress-passthrough",
			Filters: []*listenerv3.Filter{g.tcpProxy("outbound|egress-passthrough", []target{{cluster: PassthroughClusterName}}, true)},
		}
	}
	if len(l.FilterChains) == 0 && l.DefaultFilterChain == nil {
		return nil
	}
	return l
}

// rdsFilter is the HTTP connection manager of an outbound port, on its route
// configuration: alike for every proxy, so shared.
func (g *gen) rdsFilter(rds string) *listenerv3.Filter {
	return shared(g, &g.rdsFilters, rds, func(mg *gen) *listenerv3.Filter {
		return mg.hcm(hcmOptions{statPrefix: rds, rds: rds, meshTraffic: true})
	})
}

// portsPredicate matches connections to any of ports; nil for none.
func portsPredicate(ports []uint32) *listenerv3.ListenerFilterChainMatchPredicate {
	var rules []*listenerv3.ListenerFilterChainMatchPredicate
	for _, p := range ports {
		rules = append(rules, &listenerv3.ListenerFilterChainMatchPredicate{
			Rule: &listenerv3.ListenerFilterChainMatchPredicate_DestinationPortRange{
				DestinationPortRange: &typev3.Int32Range{Start: int32(p), End: int32(p) + 1},
			},
		})
	}
	switch len(rules) {
	case 0:
		return nil
	case 1:
		return rules[0]
	}
	return &listenerv3.ListenerFilterChainMatchPredicate{Rule: &listenerv3.ListenerFilterChainMatchPredicate_OrMatch{
		OrMatch: &listenerv3.ListenerFilterChainMatchPredicate_MatchSet{Rules: rules},
	}}
}
