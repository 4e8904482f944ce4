package catalog

import (
	"net/netip"
	"slices"
	"strings"

	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// buildEgress resolves Egress policies (when the feature flag is on), skipping
// what rules.Egress refuses: a source, host, IP range or port on its own, the
// policy for any other fault. Sources must be mesh service accounts; hosts and
// CIDRs need at least one valid port, and a policy something to match by: a
// valid host or IP range, or a port that admits any destination.
func (b *builder) buildEgress() {
	for _, e := range oldestFirst(b.state.Egresses) {
		if !b.monitored[e.Namespace] {
			continue
		}
		obj := ObjectRef{"Egress", e.Namespace, e.Name}
		refused := b.refuse(obj, rules.Egress(e), map[string]string{
			"spec.sources": "source", "spec.hosts": "host", "spec.ipAddresses": "IP range", "spec.ports": "port"})
		if refused.whole {
			continue
		}
		if !b.features.EnableEgressPolicy {
			b.problems.add(obj, "", "MeshConfig featureFlags.enableEgressPolicy is off; Egress ignored")
			continue
		}
		rule := &EgressRule{Policy: obj}
		var srcs []subject
		for i, s := range e.Spec.Sources {
			if !refused.skips("spec.sources", i) {
				srcs = append(srcs, subject{i, s.Namespace, s.Name})
			}
		}
		rule.Sources = b.sourceAccounts(obj, srcs)
		for i, h := range e.Spec.Hosts {
			if !refused.skips("spec.hosts", i) {
				rule.Hosts = append(rule.Hosts, strings.ToLower(h))
			}
		}
		for i, c := range e.Spec.IPAddresses {
			// rules.Egress refused what does not parse.
			if p, err := netip.ParsePrefix(c); err == nil && !refused.skips("spec.ipAddresses", i) {
				rule.IPRanges = append(rule.IPRanges, p.Masked())
			}
		}
		for i, p := range e.Spec.Ports {
			if refused.skips("spec.ports", i) {
				continue
			}
			pp := PolicyPort{Number: int32(p.Number), Protocol: Protocol(p.Protocol)}
			// As OSM: a TCP port is matched by IP range alone, an https one by
			// host or IP range; with none listed (not merely none valid), by
			// its number for any destination.
			switch pp.Protocol {
			case ProtocolTCP, ProtocolTCPServerFirst:
				pp.AnyDestination = len(e.Spec.IPAddresses) == 0
				if pp.AnyDestination && len(e.Spec.Hosts) > 0 {
					b.problems.add(obj, fieldIndex("spec.ports", i, "protocol"),
						"hosts cannot be matched on %s port %d (no Host or SNI to read): it admits any destination, as in OSM; name spec.ipAddresses or use https to narrow it", pp.Protocol, pp.Number)
				}
			case ProtocolHTTPS:
				pp.AnyDestination = len(e.Spec.Hosts) == 0 && len(e.Spec.IPAddresses) == 0
			}
			if !slices.Contains(rule.Ports, pp) {
				rule.Ports = append(rule.Ports, pp)
			}
		}
		for i, m := range e.Spec.Matches {
			if m.Kind != "UpstreamTrafficSetting" {
				continue
			}
			u := b.uts[ObjectRef{"UpstreamTrafficSetting", e.Namespace, m.Name}]
			switch {
			case u == nil:
				b.problems.add(obj, fieldIndex("spec.matches", i, "name"), "UpstreamTrafficSetting %s/%s does not exist or was skipped; match skipped", e.Namespace, m.Name)
			case rule.UpstreamTrafficSetting != nil:
				b.problems.add(obj, fieldIndex("spec.matches", i, "name"), "a second UpstreamTrafficSetting; match skipped")
			default:
				rule.UpstreamTrafficSetting = u
			}
		}
		rule.HTTPMatches = b.policyMatches(obj, e.Spec.Matches)
		switch {
		case len(rule.Sources) == 0:
			b.problems.add(obj, "spec.sources", "no valid source; Egress skipped")
			continue
		case len(rule.Hosts) == 0 && len(rule.IPRanges) == 0 && !slices.ContainsFunc(rule.Ports, func(p PolicyPort) bool { return p.AnyDestination }):
			b.problems.add(obj, "spec", "no valid host or ipAddress; Egress skipped")
			continue
		case len(rule.Ports) == 0:
			b.problems.add(obj, "spec.ports", "no valid port; Egress skipped")
			continue
		}
		slices.SortFunc(rule.Sources, identity.Compare)
		slices.Sort(rule.Hosts)
		rule.Hosts = slices.Compact(rule.Hosts)
		rule.IPRanges = sortedPrefixes(rule.IPRanges)
		slices.SortFunc(rule.Ports, func(a, c PolicyPort) int {
			if a.Number != c.Number {
				return int(a.Number - c.Number)
			}
			return strings.Compare(string(a.Protocol), string(c.Protocol))
		})
		b.egress = append(b.egress, rule)
	}
}
