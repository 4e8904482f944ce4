package envoy

import (
	"math"
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/catalog"
)

// outboundListener is where iptables sends the app's outgoing connections:
// the original_dst listener filter restores each connection's destination, and
// a filter chain per reachable Service port matches it by address and port.
// Egress rules add chains; egress passthrough is the default chain. Nil when
// nothing at all may go out.
//
// The listener does not set use_original_dst: handing connections to another
// listener bound to the destination port would let an outgoing connection to a
// remote port 15003 or 15010 land on this proxy's own listeners.
func (g *gen) outboundListener() *listenerv3.Listener {
	cs := newChainSet()
	for _, o := range g.view.Outbound {
		if o.Service != nil {
			g.outboundChains(cs, o)
		}
	}
	needSNI := g.egressChains(cs)
	l := &listenerv3.Listener{
		Name:             OutboundListenerName,
		Address:          socketAddress("0.0.0.0", OutboundListenerPort),
		TrafficDirection: corev3.TrafficDirection_OUTBOUND,
		ListenerFilters:  []*listenerv3.ListenerFilter{g.originalDst()},
		FilterChains:     cs.chains,
	}
	if needSNI {
		l.ListenerFilters = append(l.ListenerFilters, g.tlsInspector())
	}
	if g.view.EgressPassthrough {
		l.DefaultFilterChain = &listenerv3.FilterChain{
			Name:    "outbound|egress-passthrough",
			Filters: []*listenerv3.Filter{g.tcpProxy("outbound|egress-passthrough", []target{{cluster: g.passthroughCluster()}})},
		}
	}
	if len(l.FilterChains) == 0 && l.DefaultFilterChain == nil {
		return nil
	}
	return l
}

// destination is where a client addresses a Service port: the cluster IPs on
// the Service's port, or, for a headless Service, its endpoints' addresses on
// their port.
type destination struct {
	port     uint32
	prefixes []netip.Prefix
	// domains are the Host values of a headless Service's endpoints.
	domains []string
}

func destinations(svc *catalog.Service, port catalog.ServicePort) []destination {
	if !svc.Headless {
		return []destination{{port: uint32(port.Port), prefixes: prefixesOf(svc.ClusterIPs)}}
	}
	var out []destination
	byPort := map[uint32]int{}
	dns := map[string]string{}
	for _, ep := range svc.Endpoints {
		if ep.PortName == port.Name && ep.DNSName != "" {
			dns[ep.IP] = ep.DNSName
		}
	}
	for _, ep := range readyEndpoints(svc, port) {
		i, ok := byPort[ep.port]
		if !ok {
			i = len(out)
			byPort[ep.port] = i
			out = append(out, destination{port: ep.port})
		}
		d := &out[i]
		d.prefixes = append(d.prefixes, netip.PrefixFrom(ep.addr, ep.addr.BitLen()))
		p := portString(int32(ep.port))
		if name := dns[ep.addr.String()]; name != "" {
			d.domains = append(d.domains, name, name+":"+p)
		}
		d.domains = append(d.domains, hostPort(ep.addr, p)...)
	}
	return out
}

// outboundChains adds a chain per port of a reachable Service: HTTP ports
// through the HTTP connection manager and the port's route configuration,
// other ports through tcp_proxy.
func (g *gen) outboundChains(cs *chainSet, o catalog.Outbound) {
	svc := o.Service
	for _, port := range svc.Ports {
		for _, d := range destinations(svc, port) {
			if len(d.prefixes) == 0 && port.Protocol.IsHTTP() {
				// A Service without a cluster IP (only seen when rendering files:
				// the API server always assigns one) is still routed by Host on a
				// chain matching its port alone.
				g.addressless(cs, o, port, d)
				continue
			}
			prefixes := cs.claimPrefixes(matchKey(d.port, nil, "", nil), d.prefixes)
			if len(prefixes) == 0 {
				continue
			}
			targets := g.outboundTargets(o, port)
			name := "outbound|" + ClusterName(svc.ServiceRef, port.Port)
			if d.port != uint32(port.Port) {
				name += "|" + portString(int32(d.port))
			}
			fc := &listenerv3.FilterChain{
				Name:             name,
				FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(d.port)},
			}
			for _, p := range prefixes {
				fc.FilterChainMatch.PrefixRanges = append(fc.FilterChainMatch.PrefixRanges, cidr(p))
			}
			if port.Protocol.IsHTTP() {
				rds := outboundRouteName(d.port)
				g.routeConfig(rds)
				vh := &routev3.VirtualHost{
					Name:   name,
					Routes: []*routev3.Route{routeTo(targets, o.Retry, port.Protocol == catalog.ProtocolGRPC)},
				}
				g.addVirtualHost(rds, vh, append(g.serviceDomains(svc, d.port, g.view.Identity.Namespace), d.domains...))
				fc.Filters = []*listenerv3.Filter{g.hcm(hcmOptions{statPrefix: rds, rds: rds})}
			} else {
				if len(targets) == 0 {
					continue
				}
				fc.Filters = []*listenerv3.Filter{g.tcpProxy(name, targets)}
			}
			cs.add(fc)
		}
	}
}

// addressless routes an HTTP Service port that has no address by Host, on one
// chain per port that matches the destination port alone.
func (g *gen) addressless(cs *chainSet, o catalog.Outbound, port catalog.ServicePort, d destination) {
	rds := outboundRouteName(d.port)
	g.routeConfig(rds)
	name := "outbound|" + ClusterName(o.Service.ServiceRef, port.Port)
	g.addVirtualHost(rds, &routev3.VirtualHost{
		Name:   name,
		Routes: []*routev3.Route{routeTo(g.outboundTargets(o, port), o.Retry, port.Protocol == catalog.ProtocolGRPC)},
	}, g.serviceDomains(o.Service, d.port, g.view.Identity.Namespace))
	if !cs.claim(matchKey(d.port, nil, "", nil) + "|dst=any") {
		return
	}
	cs.add(&listenerv3.FilterChain{
		Name:             "outbound|http|" + portString(int32(d.port)),
		FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(d.port)},
		Filters:          []*listenerv3.Filter{g.hcm(hcmOptions{statPrefix: rds, rds: rds})},
	})
}

// outboundTargets are the clusters behind a Service port: its own, or, for a
// split's root, its backends' (on the port of the same number, else the same
// name) with their weights. Backends weighing nothing are left out.
func (g *gen) outboundTargets(o catalog.Outbound, port catalog.ServicePort) []target {
	if len(o.Backends) == 0 {
		return []target{{cluster: g.serviceCluster(o.Service, port)}}
	}
	var ts []target
	index := map[string]int{}
	for _, be := range o.Backends {
		if be.Service == nil || be.Weight == 0 {
			continue
		}
		bp, ok := backendPort(be.Service, port)
		if !ok {
			continue
		}
		c := g.serviceCluster(be.Service, bp)
		if i, dup := index[c]; dup {
			ts[i].weight = addWeights(ts[i].weight, be.Weight)
			continue
		}
		index[c] = len(ts)
		ts = append(ts, target{cluster: c, weight: be.Weight})
	}
	return scaleWeights(ts)
}

func backendPort(svc *catalog.Service, root catalog.ServicePort) (catalog.ServicePort, bool) {
	for _, p := range svc.Ports {
		if p.Port == root.Port {
			return p, true
		}
	}
	for _, p := range svc.Ports {
		if p.Name == root.Name {
			return p, true
		}
	}
	return catalog.ServicePort{}, false
}

func addWeights(a, b uint32) uint32 {
	if uint64(a)+uint64(b) > math.MaxUint32 {
		return math.MaxUint32
	}
	return a + b
}

// scaleWeights keeps the weights as written unless their sum overflows what
// Envoy accepts (a uint32); then it scales them down, keeping each above 0.
func scaleWeights(ts []target) []target {
	var sum uint64
	for _, t := range ts {
		sum += uint64(t.weight)
	}
	const limit = 1 << 30
	if sum <= limit {
		return ts
	}
	for i := range ts {
		ts[i].weight = uint32(max(1, uint64(ts[i].weight)*(limit/uint64(len(ts)))/sum))
	}
	return ts
}
