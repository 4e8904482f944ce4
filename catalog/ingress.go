package catalog

import (
	"net/netip"
	"slices"

	corev1 "k8s.io/api/core/v1"

	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// buildIngress resolves IngressBackends whatever featureFlags says, as OSM
// v1.2, which never read enableIngressBackendPolicy: one rule per backend,
// with Service sources turned into their endpoints' addresses,
// AuthenticatedPrincipals into certificate names and IPRanges into CIDRs. What
// rules.IngressBackend refuses is skipped: a source or a backend on its own,
// the policy for any other fault. A Service source that is missing or has no
// endpoints skips the policy, which would otherwise admit more addresses than
// it names. A backend port taken by an older IngressBackend is skipped.
func (b *builder) buildIngress() {
	taken := map[ServiceRef]map[int32]ObjectRef{}
	for _, ib := range oldestFirst(b.state.IngressBackends) {
		if !b.monitored[ib.Namespace] {
			continue
		}
		obj := ObjectRef{"IngressBackend", ib.Namespace, ib.Name}
		refused := b.refuse(obj, rules.IngressBackend(ib), map[string]string{"spec.sources": "source", "spec.backends": "backend"})
		if refused.whole {
			continue
		}
		var ranges []netip.Prefix
		var principals []string
		var services []ServiceRef
		unresolved := false
		for i, src := range ib.Spec.Sources {
			if refused.skips("spec.sources", i) {
				continue
			}
			switch src.Kind {
			case policyv1alpha1.KindService:
				// Without the Service's addresses the sources could not be
				// restricted to them: the policy fails closed, as in OSM.
				ref := ServiceRef{src.Namespace, src.Name}
				field := fieldIndex("spec.sources", i, "name")
				svc := b.services[ref]
				if svc == nil {
					svc = b.outside[ref]
				}
				if svc == nil {
					b.problems.add(obj, field, "%s, so no address can be admitted for it; IngressBackend skipped", b.missingService(ref))
					unresolved = true
					continue
				}
				services = append(services, ref)
				n := len(ranges)
				for _, ep := range svc.Endpoints {
					if addr, err := netip.ParseAddr(ep.IP); err == nil {
						ranges = append(ranges, netip.PrefixFrom(addr, addr.BitLen()))
					}
				}
				if len(ranges) == n {
					b.problems.add(obj, field, "service %s has no endpoints, so no address can be admitted for it; IngressBackend skipped until it has some", ref)
					unresolved = true
				}
			case policyv1alpha1.KindAuthenticatedPrincipal:
				principals = append(principals, src.Name)
			case policyv1alpha1.KindIPRange:
				// rules.IngressBackend refused what does not parse.
				if p, err := netip.ParsePrefix(src.Name); err == nil {
					ranges = append(ranges, p.Masked())
				}
			}
		}
		if unresolved {
			continue
		}
		if len(ranges) == 0 && len(principals) == 0 {
			b.problems.add(obj, "spec.sources", "no valid source; IngressBackend skipped")
			continue
		}
		matches := b.policyMatches(obj, ib.Spec.Matches)
		ranges = sortedPrefixes(ranges)
		slices.Sort(principals)
		principals = slices.Compact(principals)
		for i, be := range ib.Spec.Backends {
			if refused.skips("spec.backends", i) {
				continue
			}
			field := fieldIndex("spec.backends", i, "")
			ref := ServiceRef{ib.Namespace, be.Name}
			svc := b.services[ref]
			if svc == nil {
				b.problems.add(obj, field+".name", "%s; backend skipped", b.missingService(ref))
				continue
			}
			port, ok := backendPort(svc, int32(be.Port.Number))
			if !ok {
				b.problems.add(obj, field+".port.number", "service %s has no port %d; backend skipped", ref, be.Port.Number)
				continue
			}
			if taken[ref] == nil {
				taken[ref] = map[int32]ObjectRef{}
			}
			if prev, dup := taken[ref][port.Port]; dup {
				b.problems.add(obj, field, "%s already admits ingress to %s port %d; backend skipped", prev, ref, port.Port)
				continue
			}
			taken[ref][port.Port] = obj
			b.ingress = append(b.ingress, &IngressRule{
				Policy: obj, Backend: ref, Port: port, Protocol: Protocol(be.Port.Protocol),
				SkipClientCertValidation: be.TLS.SkipClientCertValidation,
				SNIHosts:                 slices.Clone(be.TLS.SNIHosts),
				SourceIPRanges:           ranges, SourcePrincipals: principals, SourceServices: services,
				HTTPMatches: matches,
			})
		}
	}
}

// backendPort finds the Service port an IngressBackend names: by target port
// first (OSM's reading), then by the Service's port.
func backendPort(svc *Service, n int32) (ServicePort, bool) {
	for _, p := range svc.Ports {
		if p.TargetPort == n {
			return p, true
		}
	}
	for _, p := range svc.Ports {
		if p.Port == n {
			return p, true
		}
	}
	return ServicePort{}, false
}

// policyMatches resolves typed references to HTTPRouteGroups of the policy's
// namespace into their matches.
func (b *builder) policyMatches(obj ObjectRef, refs []corev1.TypedLocalObjectReference) []HTTPMatch {
	var out []HTTPMatch
	for i, m := range refs {
		if m.Kind != "HTTPRouteGroup" {
			continue
		}
		g := b.groups.groups[ObjectRef{"HTTPRouteGroup", obj.Namespace, m.Name}]
		if g == nil {
			b.problems.add(obj, fieldIndex("spec.matches", i, "name"), "HTTPRouteGroup %s/%s does not exist; match skipped", obj.Namespace, m.Name)
			continue
		}
		out = append(out, g.matches...)
	}
	return out
}

func sortedPrefixes(ps []netip.Prefix) []netip.Prefix {
	slices.SortFunc(ps, func(a, c netip.Prefix) int {
		if r := a.Addr().Compare(c.Addr()); r != 0 {
			return r
		}
		return a.Bits() - c.Bits()
	})
	return slices.Compact(ps)
}
