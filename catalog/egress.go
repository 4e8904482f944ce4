package catalog

import (
	"slices"
	"strings"

	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// buildEgress resolves Egress policies (when the feature flag is on). Sources
// must be mesh service accounts; hosts and CIDRs need at least one valid port.
func (b *builder) buildEgress() {
	for _, e := range oldestFirst(b.state.Egresses) {
		if !b.monitored[e.Namespace] {
			continue
		}
		obj := ObjectRef{"Egress", e.Namespace, e.Name}
		if !b.settings.Features.EnableEgressPolicy {
			b.problems.add(obj, "", "MeshConfig featureFlags.enableEgressPolicy is off; Egress ignored")
			continue
		}
		rule := &EgressRule{Policy: obj}
		srcs := make([]subject, len(e.Spec.Sources))
		for i, s := range e.Spec.Sources {
			srcs[i] = subject{s.Kind, s.Namespace, s.Name}
		}
		rule.Sources = b.sourceAccounts(obj, e.Namespace, srcs)
		for i, h := range e.Spec.Hosts {
			if err := rules.EgressHost(h); err != nil {
				b.problems.add(obj, fieldIndex("spec.hosts", i, ""), "host %q: %v; skipped", h, err)
				continue
			}
			rule.Hosts = append(rule.Hosts, strings.ToLower(h))
		}
		for i, c := range e.Spec.IPAddresses {
			p, ok := parseCIDR(c)
			if !ok {
				b.problems.add(obj, fieldIndex("spec.ipAddresses", i, ""), "%q is not a CIDR; skipped", c)
				continue
			}
			rule.IPRanges = append(rule.IPRanges, p)
		}
		for i, p := range e.Spec.Ports {
			proto := strings.ToLower(p.Protocol)
			switch {
			case p.Number < 1 || p.Number > 65535:
				b.problems.add(obj, fieldIndex("spec.ports", i, "number"), "port %d is out of range; skipped", p.Number)
				continue
			case proto != policyv1alpha1.ProtocolHTTP && proto != policyv1alpha1.ProtocolHTTPS && proto != policyv1alpha1.ProtocolTCP:
				b.problems.add(obj, fieldIndex("spec.ports", i, "protocol"), "protocol %q is not http, https or tcp; skipped", p.Protocol)
				continue
			}
			pp := PolicyPort{Number: int32(p.Number), Protocol: proto}
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
		case len(rule.Hosts) == 0 && len(rule.IPRanges) == 0:
			b.problems.add(obj, "spec", "no valid host or ipAddress; Egress skipped")
			continue
		case len(rule.Ports) == 0:
			b.problems.add(obj, "spec.ports", "no valid port; Egress skipped")
			continue
		}
		slices.SortFunc(rule.Sources, compareIdentities)
		slices.Sort(rule.Hosts)
		rule.Hosts = slices.Compact(rule.Hosts)
		rule.IPRanges = sortedPrefixes(rule.IPRanges)
		slices.SortFunc(rule.Ports, func(a, c PolicyPort) int {
			if a.Number != c.Number {
				return int(a.Number - c.Number)
			}
			return strings.Compare(a.Protocol, c.Protocol)
		})
		b.egress = append(b.egress, rule)
	}
}
