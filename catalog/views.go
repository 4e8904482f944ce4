package catalog

import (
	"slices"

	"github.com/weft-mesh/weft/pkg/identity"
)

// model assembles the Model: the Services, and each identity's view.
func (b *builder) model() *Model {
	m := &Model{
		Settings:     b.settings,
		IngressRules: b.ingress,
		Gateways:     b.gateways,
		EgressRules:  b.egress,
		services:     b.services,
		identities:   map[identity.Identity]*IdentityView{},
		metrics:      b.metricsByProxy(),
	}
	for _, s := range b.services {
		m.Services = append(m.Services, s)
	}
	slices.SortFunc(m.Services, func(a, c *Service) int { return compareServices(a.ServiceRef, c.ServiceRef) })
	var roots []*Service
	for _, s := range m.Services {
		if s.Split != nil || len(s.Routes) > 0 {
			roots = append(roots, s)
		}
	}
	ingressBy := map[ServiceRef][]*IngressRule{}
	for _, r := range b.ingress {
		ingressBy[r.Backend] = append(ingressBy[r.Backend], r)
	}
	egressBy := map[identity.Identity][]*EgressRule{}
	for _, r := range b.egress {
		for _, id := range r.Sources {
			egressBy[id] = append(egressBy[id], r)
		}
	}
	probes := b.healthProbes()
	for _, id := range b.sortedIdentities() {
		v := &IdentityView{Identity: id, EgressPassthrough: b.settings.EgressPassthrough, Egress: egressBy[id], HealthProbes: probes[id]}
		for _, s := range b.serves[id] {
			v.Services = append(v.Services, s.ServiceRef)
			v.Ingress = append(v.Ingress, ingressBy[s.ServiceRef]...)
			for _, p := range s.Ports {
				v.Inbound = append(v.Inbound, b.inbound(id, s, p))
			}
		}
		v.Outbound = b.outbound(id, m.Services, roots)
		m.Identities = append(m.Identities, v)
		m.identities[id] = v
	}
	m.Problems = b.problems.sorted()
	m.settingsHash, m.hashes = hashIdentities(m)
	return m
}

func (b *builder) inbound(id identity.Identity, s *Service, p ServicePort) InboundPort {
	in := InboundPort{Service: s.ServiceRef, Port: p, AllowAll: b.settings.Permissive, UpstreamTrafficSetting: s.UpstreamTrafficSetting}
	if in.AllowAll {
		return in
	}
	in.Rules = b.gatewayRules(s, p)
	for _, g := range b.grants[id] {
		r := InboundRule{Policy: g.policy, Sources: g.sources}
		switch {
		case g.tcpAll || g.tcpPorts[p.Port] || (p.TargetPort != 0 && g.tcpPorts[p.TargetPort]):
			r.AllTraffic = true
		case p.Protocol.IsHTTP() && len(g.http) > 0:
			r.HTTPMatches = g.http
		default:
			continue
		}
		in.Rules = append(in.Rules, r)
	}
	return in
}

// outbound lists what id may reach: every Service in permissive mode; else the
// Services served by the identities whose TrafficTargets name id as a source,
// and the roots of splits (and parents of GAMMA routes) whose root or a
// backend is among those.
func (b *builder) outbound(id identity.Identity, all, roots []*Service) []Outbound {
	var reach []*Service
	if b.settings.Permissive {
		reach = all
	} else {
		seen := map[ServiceRef]bool{}
		for dest := range b.reaches[id] {
			for _, s := range b.serves[dest] {
				if !seen[s.ServiceRef] {
					seen[s.ServiceRef] = true
					reach = append(reach, s)
				}
			}
		}
		for _, r := range roots {
			if seen[r.ServiceRef] {
				continue
			}
			if r.reachesBackend(seen) {
				seen[r.ServiceRef] = true
				reach = append(reach, r)
			}
		}
		slices.SortFunc(reach, func(a, c *Service) int { return compareServices(a.ServiceRef, c.ServiceRef) })
	}
	if len(reach) == 0 {
		return nil
	}
	out := make([]Outbound, 0, len(reach))
	for _, s := range reach {
		o := Outbound{Service: s, Retry: b.retries[id][s.ServiceRef]}
		if s.Split != nil {
			for _, w := range s.Split.Backends {
				o.Backends = append(o.Backends, OutboundBackend{Service: b.services[w.Service], Weight: w.Weight})
			}
		}
		out = append(out, o)
	}
	return out
}

// reachesBackend reports whether a split's or a route's backend is among seen.
func (s *Service) reachesBackend(seen map[ServiceRef]bool) bool {
	if s.Split != nil && slices.ContainsFunc(s.Split.Backends, func(w WeightedBackend) bool { return seen[w.Service] }) {
		return true
	}
	for _, r := range s.Routes {
		if slices.ContainsFunc(r.Backends, func(b RouteBackend) bool { return seen[b.Service] }) {
			return true
		}
	}
	return false
}
