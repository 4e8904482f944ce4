package envoy

import (
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

// listeners is the listeners pass: the outbound and inbound listeners of the
// planned chains, the Prometheus listener (shared) and the probe listeners.
// They name routes and clusters only.
func (g *gen) listeners() []*listenerv3.Listener {
	var out []*listenerv3.Listener
	if l := g.outboundListener(); l != nil {
		out = append(out, l)
	}
	if l := g.inboundListener(); l != nil {
		out = append(out, l)
	}
	if g.proxy.Metrics {
		out = append(out, g.fixed().prometheus)
	}
	return append(out, g.probeListeners()...)
}

// filterChain is a planned chain with its match; the caller adds its filters.
func filterChain(ch *chain) *listenerv3.FilterChain {
	m := &listenerv3.FilterChainMatch{
		DestinationPort:   wrapperspb.UInt32(ch.port),
		ServerNames:       ch.serverNames,
		TransportProtocol: ch.transport,
	}
	for _, p := range ch.prefixes {
		m.PrefixRanges = append(m.PrefixRanges, cidr(p))
	}
	for _, p := range ch.sources {
		m.SourcePrefixRanges = append(m.SourcePrefixRanges, cidr(p))
	}
	return &listenerv3.FilterChain{Name: ch.name, FilterChainMatch: m}
}
