package envoy

import (
	"math"
	"net/netip"
	"slices"
	"strings"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// destination is where a client addresses a Service port: the cluster IPs on
// the Service's port, or, for a headless Service, its endpoints' addresses on
// their port.
type destination struct {
	port     uint32
	prefixes []netip.Prefix
	// domains are the Host values of a headless Service's endpoints.
	domains []string
}

// destinations are where clients address a Service port; a headless
// Service's carry its pods' Host values as a client in namespace from writes
// them.
func (g *gen) destinations(svc *catalog.Service, port catalog.ServicePort, from string) []destination {
	if !svc.Headless {
		return []destination{{port: uint32(port.Port), prefixes: prefixesOf(svc.ClusterIPs)}}
	}
	var out []destination
	byPort := map[uint32]int{}
	hostnames := map[string]string{}
	for _, ep := range svc.Endpoints {
		if ep.PortName == port.Name && ep.Hostname != "" {
			hostnames[ep.IP] = ep.Hostname
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
		if h := hostnames[ep.addr.String()]; h != "" {
			// The pod's name under its Service's, <hostname>.<service>.
			d.domains = append(d.domains, withPort(g.hostNames(h+"."+svc.Name, svc.Namespace, from), p)...)
		}
		d.domains = append(d.domains, hostPort(ep.addr, p)...)
	}
	return out
}

// planOutbound plans a chain per port of a reachable Service: HTTP ports
// through the HTTP connection manager and the port's route configuration,
// where the Service takes a virtual host; other ports through tcp_proxy.
func (g *gen) planOutbound(cs *chainSet, o catalog.Outbound) {
	svc := o.Service
	for _, port := range svc.Ports {
		for _, d := range g.destinations(svc, port, g.view.Identity.Namespace) {
			if len(d.prefixes) == 0 && port.Protocol.IsHTTP() {
				// A Service without a cluster IP (only seen when rendering files:
				// the API server always assigns one) is still routed by Host on a
				// chain matching its port alone.
				g.planAddressless(cs, o, port, d)
				continue
			}
			prefixes := cs.claimPrefixes(matchKey(d.port, nil, "", nil), d.prefixes)
			if len(prefixes) == 0 {
				continue
			}
			name := "outbound|" + ClusterName(svc.ServiceRef, port.Port)
			if d.port != uint32(port.Port) {
				name += "|" + portString(int32(d.port))
			}
			ch := &chain{name: name, port: d.port, prefixes: prefixes, serverFirst: port.Protocol == catalog.ProtocolTCPServerFirst}
			if port.Protocol.IsHTTP() {
				ch.rds = outboundRouteName(d.port)
				g.addVirtualHost(ch.rds, g.outboundVirtualHost(name, o, port),
					append(g.serviceDomains(svc, d.port, g.view.Identity.Namespace), d.domains...))
			} else {
				targets := g.outboundTargets(o, port)
				if len(targets) == 0 {
					continue
				}
				ch.tcp = targets
			}
			cs.add(ch)
		}
	}
}

// planAddressless routes an HTTP Service port that has no address by Host,
// on one chain per port that matches the destination port alone.
func (g *gen) planAddressless(cs *chainSet, o catalog.Outbound, port catalog.ServicePort, d destination) {
	rds := outboundRouteName(d.port)
	name := "outbound|" + ClusterName(o.Service.ServiceRef, port.Port)
	g.addVirtualHost(rds, g.outboundVirtualHost(name, o, port),
		g.serviceDomains(o.Service, d.port, g.view.Identity.Namespace))
	if !cs.claim(anyDestination(d.port)) {
		return
	}
	cs.add(&chain{name: "outbound|http|" + portString(int32(d.port)), port: d.port, rds: rds})
}

// outboundVirtualHost routes a Service port: by its GAMMA rules, else all
// to its targets.
func (g *gen) outboundVirtualHost(name string, o catalog.Outbound, port catalog.ServicePort) *vhost {
	if rules := gammaRules(o.Service, port); len(rules) > 0 {
		return g.gammaVirtualHost(name, o, port, rules)
	}
	return &vhost{name: name, routes: []route{{targets: g.outboundTargets(o, port), retry: o.Retry}}}
}

// serviceDomains are the Host header values that name a Service port, as a
// client in namespace from writes them (hostNames), and the cluster IPs, each
// alone and with ":port".
func (g *gen) serviceDomains(svc *catalog.Service, port uint32, from string) []string {
	p := portString(int32(port))
	out := withPort(g.hostNames(svc.Name, svc.Namespace, from), p)
	for _, ip := range svc.ClusterIPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			out = append(out, hostPort(a, p)...)
		}
	}
	return out
}

// hostNames are the names of name (a Service, or <hostname>.<service>) in
// namespace as a client in from writes them, OSM's forms: the short name
// (from the same namespace only, where it resolves), name.namespace,
// name.namespace.svc, each shorter prefix of the cluster domain after .svc
// (.svc.cluster: no DNS name, but a Host OSM routed) and the FQDN.
func (g *gen) hostNames(name, namespace, from string) []string {
	var out []string
	if namespace == from {
		out = append(out, name)
	}
	dns := mesh.ServiceDNSNames(name, namespace, g.model.Settings.ClusterDomain)
	out = append(out, dns[0], dns[1])
	labels := strings.Split(g.model.Settings.ClusterDomain, ".")
	for i := 1; i < len(labels); i++ {
		out = append(out, dns[1]+"."+strings.Join(labels[:i], "."))
	}
	return append(out, dns[2])
}

// withPort lists each name alone and with ":port".
func withPort(names []string, port string) []string {
	out := make([]string, 0, 2*len(names))
	for _, n := range names {
		out = append(out, n, n+":"+port)
	}
	return out
}

func hostPort(a netip.Addr, port string) []string {
	if a.Is6() {
		return []string{"[" + a.String() + "]", "[" + a.String() + "]:" + port}
	}
	return []string{a.String(), a.String() + ":" + port}
}

// outboundTargets are the clusters behind a Service port (backendTargets),
// with their weights in a split.
func (g *gen) outboundTargets(o catalog.Outbound, port catalog.ServicePort) []target {
	var ts []target
	for _, b := range backendTargets(o, port) {
		ts = append(ts, target{cluster: g.serviceCluster(b.svc, b.port), weight: b.weight})
	}
	if len(o.Backends) == 0 {
		return ts
	}
	return scaleWeights(ts)
}

// backendTarget is a Service port that traffic to a Service port goes to,
// with its weight in a split (0 without one).
type backendTarget struct {
	svc    *catalog.Service
	port   catalog.ServicePort
	weight uint32
}

// backendTargets are where traffic to a Service port goes: the port itself,
// or, for a split's root, its backends' ports (of the same number, else the
// same name) with their weights, a backend named twice counted once with the
// sum. Backends weighing nothing are left out.
func backendTargets(o catalog.Outbound, port catalog.ServicePort) []backendTarget {
	if len(o.Backends) == 0 {
		return []backendTarget{{svc: o.Service, port: port}}
	}
	var ts []backendTarget
	for _, be := range o.Backends {
		if be.Service == nil || be.Weight == 0 {
			continue
		}
		bp, ok := be.Service.SplitBackendPort(port)
		if !ok {
			continue
		}
		if i := slices.IndexFunc(ts, func(t backendTarget) bool { return t.svc == be.Service && t.port == bp }); i >= 0 {
			ts[i].weight = addWeights(ts[i].weight, be.Weight)
			continue
		}
		ts = append(ts, backendTarget{svc: be.Service, port: bp, weight: be.Weight})
	}
	return ts
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
