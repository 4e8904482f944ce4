package catalog

import (
	"slices"

	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// grant is one TrafficTarget resolved: its sources may reach its destination's
// HTTP ports with these requests, and these TCP ports (all when tcpAll).
type grant struct {
	policy   ObjectRef
	sources  []identity.Identity
	http     []HTTPMatch
	tcpAll   bool
	tcpPorts map[int32]bool
}

// buildGrants resolves the SMI TrafficTargets. A TrafficTarget lives in its
// destination's namespace; rules name HTTPRouteGroups and TCPRoutes of that
// namespace. A missing destination skips the TrafficTarget; a missing source,
// rule or match skips only that part.
func (b *builder) buildGrants() {
	b.grants = map[identity.Identity][]grant{}
	b.reaches = map[identity.Identity]map[identity.Identity]bool{}
	tcpRoutes := b.tcpRoutes()
	for _, tt := range b.state.TrafficTargets {
		if tt == nil || tt.Name == "" || !b.monitored[tt.Namespace] {
			continue
		}
		obj := ObjectRef{"TrafficTarget", tt.Namespace, tt.Name}
		refused := b.refuse(obj, rules.TrafficTarget(tt), map[string]string{"spec.sources": "source", "spec.rules": "rule"})
		if refused.whole {
			continue
		}
		d := tt.Spec.Destination
		dest := identity.Identity{Namespace: orDefault(d.Namespace, tt.Namespace), ServiceAccount: d.Name}
		if !b.identities[dest] {
			b.problems.add(obj, "spec.destination.name", "service account %s does not exist; TrafficTarget skipped", dest)
			continue
		}
		g := grant{policy: obj}
		var srcs []subject
		for i, s := range tt.Spec.Sources {
			if !refused.skips("spec.sources", i) {
				srcs = append(srcs, subject{i, s.Namespace, s.Name})
			}
		}
		g.sources = b.sourceAccounts(obj, srcs)
		if len(g.sources) == 0 {
			b.problems.add(obj, "spec.sources", "no valid source; TrafficTarget skipped")
			continue
		}
		slices.SortFunc(g.sources, identity.Compare)
		for i, rule := range tt.Spec.Rules {
			if refused.skips("spec.rules", i) {
				continue
			}
			field := fieldIndex("spec.rules", i, "")
			ref := ObjectRef{rule.Kind, tt.Namespace, rule.Name}
			switch rule.Kind {
			case "HTTPRouteGroup":
				rg := b.groups.groups[ref]
				if rg == nil {
					b.problems.add(obj, field+".name", "%s does not exist; rule skipped", ref)
					continue
				}
				matches, missing := rg.selected(rule.Matches)
				for _, m := range missing {
					b.problems.add(obj, field+".matches", "%s has no valid match %q; match skipped", ref, m)
				}
				g.http = append(g.http, matches...)
			case "TCPRoute":
				ports, ok := tcpRoutes[ref]
				if !ok {
					b.problems.add(obj, field+".name", "%s does not exist; rule skipped", ref)
					continue
				}
				if ports == nil {
					g.tcpAll = true
					continue
				}
				if g.tcpPorts == nil {
					g.tcpPorts = map[int32]bool{}
				}
				for _, p := range ports {
					g.tcpPorts[p] = true
				}
			}
		}
		if len(g.http) == 0 && !g.tcpAll && len(g.tcpPorts) == 0 {
			b.problems.add(obj, "spec.rules", "no valid rule; the TrafficTarget allows nothing")
			continue
		}
		b.grants[dest] = append(b.grants[dest], g)
		for _, src := range g.sources {
			if b.reaches[src] == nil {
				b.reaches[src] = map[identity.Identity]bool{}
			}
			b.reaches[src][dest] = true
		}
	}
}

// subject is a policy's source service account that passed the policy's rule,
// with its index in spec.sources.
type subject struct {
	index           int
	namespace, name string
}

// sourceAccounts resolves a policy's sources to the existing service accounts
// they name, without duplicates; each naming no service account is a Problem.
func (b *builder) sourceAccounts(obj ObjectRef, sources []subject) []identity.Identity {
	var out []identity.Identity
	for _, s := range sources {
		id := identity.Identity{Namespace: s.namespace, ServiceAccount: s.name}
		switch {
		case !b.identities[id]:
			b.problems.add(obj, fieldIndex("spec.sources", s.index, "name"), "service account %s does not exist; source skipped", id)
		case !slices.Contains(out, id):
			out = append(out, id)
		}
	}
	return out
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// tcpRoutes are the TCPRoutes' valid ports (rules.TCPRoute skips the others);
// nil (not empty) means every port.
func (b *builder) tcpRoutes() map[ObjectRef][]int32 {
	out := map[ObjectRef][]int32{}
	for _, r := range b.state.TCPRoutes {
		if r == nil || r.Name == "" || !b.monitored[r.Namespace] {
			continue
		}
		ref := ObjectRef{"TCPRoute", r.Namespace, r.Name}
		refused := b.refuse(ref, rules.TCPRoute(r), map[string]string{"spec.matches.ports": "port"})
		if refused.whole {
			continue
		}
		var ports []int32
		for i, p := range r.Spec.Matches.Ports {
			if !refused.skips("spec.matches.ports", i) {
				ports = append(ports, int32(p))
			}
		}
		if ports == nil && len(r.Spec.Matches.Ports) > 0 {
			ports = []int32{} // every listed port was invalid: allow none
		}
		out[ref] = ports
	}
	return out
}
