package catalog

import (
	"slices"
	"strconv"
)

// grant is one TrafficTarget resolved: its sources may reach its destination's
// HTTP ports with these requests, and these TCP ports (all when tcpAll).
type grant struct {
	policy   ObjectRef
	sources  []Identity
	http     []HTTPMatch
	tcpAll   bool
	tcpPorts map[int32]bool
}

// buildGrants resolves the SMI TrafficTargets. A TrafficTarget lives in its
// destination's namespace; rules name HTTPRouteGroups and TCPRoutes of that
// namespace. A missing destination skips the TrafficTarget; a missing source,
// rule or match skips only that part.
func (b *builder) buildGrants() {
	b.grants = map[Identity][]grant{}
	b.reaches = map[Identity]map[Identity]bool{}
	tcpRoutes := b.tcpRoutes()
	for _, tt := range b.state.TrafficTargets {
		if tt == nil || tt.Name == "" || !b.monitored[tt.Namespace] {
			continue
		}
		obj := ObjectRef{"TrafficTarget", tt.Namespace, tt.Name}
		d := tt.Spec.Destination
		if d.Kind != "ServiceAccount" {
			b.problems.add(obj, "spec.destination.kind", "kind %q is not ServiceAccount; TrafficTarget skipped", d.Kind)
			continue
		}
		dest := Identity{orDefault(d.Namespace, tt.Namespace), d.Name}
		if dest.Namespace != tt.Namespace {
			b.problems.add(obj, "spec.destination.namespace", "the destination %s is not in the TrafficTarget's namespace; TrafficTarget skipped", dest)
			continue
		}
		if !b.identities[dest] {
			b.problems.add(obj, "spec.destination.name", "service account %s does not exist; TrafficTarget skipped", dest)
			continue
		}
		g := grant{policy: obj}
		srcs := make([]subject, len(tt.Spec.Sources))
		for i, s := range tt.Spec.Sources {
			srcs[i] = subject{s.Kind, s.Namespace, s.Name}
		}
		g.sources = b.sourceAccounts(obj, tt.Namespace, srcs)
		if len(g.sources) == 0 {
			b.problems.add(obj, "spec.sources", "no valid source; TrafficTarget skipped")
			continue
		}
		slices.SortFunc(g.sources, compareIdentities)
		for i, rule := range tt.Spec.Rules {
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
			default:
				b.problems.add(obj, field+".kind", "kind %q is neither HTTPRouteGroup nor TCPRoute; rule skipped", rule.Kind)
			}
		}
		if len(g.http) == 0 && !g.tcpAll && len(g.tcpPorts) == 0 {
			b.problems.add(obj, "spec.rules", "no valid rule; the TrafficTarget allows nothing")
			continue
		}
		b.grants[dest] = append(b.grants[dest], g)
		for _, src := range g.sources {
			if b.reaches[src] == nil {
				b.reaches[src] = map[Identity]bool{}
			}
			b.reaches[src][dest] = true
		}
	}
}

// subject is a policy's source as SMI and OSM write it.
type subject struct{ kind, namespace, name string }

// sourceAccounts resolves a policy's spec.sources to the existing service
// accounts they name (namespace defaulting to ns), without duplicates; each
// source of another kind, or naming no service account, is a Problem.
func (b *builder) sourceAccounts(obj ObjectRef, ns string, sources []subject) []Identity {
	var out []Identity
	for i, s := range sources {
		id := Identity{orDefault(s.namespace, ns), s.name}
		switch {
		case s.kind != "ServiceAccount":
			b.problems.add(obj, fieldIndex("spec.sources", i, "kind"), "kind %q is not ServiceAccount; source skipped", s.kind)
		case !b.identities[id]:
			b.problems.add(obj, fieldIndex("spec.sources", i, "name"), "service account %s does not exist; source skipped", id)
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

// tcpRoutes are the TCPRoutes' valid ports; nil (not empty) means every port.
func (b *builder) tcpRoutes() map[ObjectRef][]int32 {
	out := map[ObjectRef][]int32{}
	for _, r := range b.state.TCPRoutes {
		if r == nil || r.Name == "" || !b.monitored[r.Namespace] {
			continue
		}
		ref := ObjectRef{"TCPRoute", r.Namespace, r.Name}
		var ports []int32
		for i, p := range r.Spec.Matches.Ports {
			if p < 1 || p > 65535 {
				b.problems.add(ref, fieldIndex("spec.matches.ports", i, ""), "port %s is out of range; skipped", strconv.Itoa(p))
				continue
			}
			ports = append(ports, int32(p))
		}
		if ports == nil && len(r.Spec.Matches.Ports) > 0 {
			ports = []int32{} // every listed port was invalid: allow none
		}
		out[ref] = ports
	}
	return out
}
