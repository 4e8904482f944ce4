package catalog

import (
	"slices"
	"strings"

	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// attachSplits resolves TrafficSplits onto their root Services, skipping what
// rules.TrafficSplit refuses (a backend on its own, the split for any other
// fault): the root and the backends are Services of the split's namespace.
// When two splits name one root, the older one (then the first by name) wins;
// a root with GAMMA routes keeps the routes and skips its splits.
func (b *builder) attachSplits() {
	splits := slices.Clone(b.state.TrafficSplits)
	slices.SortStableFunc(splits, func(x, y *splitv1alpha2.TrafficSplit) int {
		if x == nil || y == nil {
			return 0
		}
		return x.CreationTimestamp.Compare(y.CreationTimestamp.Time)
	})
	owner := map[ServiceRef]ObjectRef{}
	for _, ts := range splits {
		if ts == nil || ts.Name == "" || !b.monitored[ts.Namespace] {
			continue
		}
		obj := ObjectRef{"TrafficSplit", ts.Namespace, ts.Name}
		refused := b.refuse(obj, rules.TrafficSplit(ts), map[string]string{"spec.backends": "backend"})
		if refused.whole {
			continue
		}
		rootRef, _ := resolveService(ts.Spec.Service, ts.Namespace)
		root := b.services[rootRef]
		if root == nil {
			b.problems.add(obj, "spec.service", "%s; TrafficSplit skipped", b.missingService(rootRef))
			continue
		}
		if routes := b.routeOwners[rootRef]; len(routes) > 0 {
			// GAMMA routes are Gateway API's mesh API, and a route says more
			// (matches, filters) than a split: the route wins.
			b.problems.add(obj, "spec.service", "service %s has GAMMA routes (%s), which take precedence; TrafficSplit skipped", rootRef, joinRefs(routes))
			for _, r := range routes {
				b.problems.warn(r, "spec.parentRefs", "%s also splits service %s; this route takes precedence and the TrafficSplit is skipped", obj, rootRef)
			}
			continue
		}
		if prev, taken := owner[rootRef]; taken {
			b.problems.add(obj, "spec.service", "%s already splits service %s; TrafficSplit skipped", prev, rootRef)
			continue
		}
		if len(ts.Spec.Matches) > 0 {
			b.problems.warn(obj, "spec.matches", "route matches in a TrafficSplit are not supported; the split applies to all traffic")
		}
		split := &Split{Policy: obj}
		var total uint64
		for i, be := range ts.Spec.Backends {
			if refused.skips("spec.backends", i) {
				continue
			}
			ref, _ := resolveService(be.Service, ts.Namespace)
			if b.services[ref] == nil {
				b.problems.add(obj, fieldIndex("spec.backends", i, "service"), "%s; backend skipped", b.missingService(ref))
				continue
			}
			// Thousandths: rules.TrafficSplit keeps weights within 0 and
			// rules.MaxWeight, so that they fit.
			w := uint32(be.Weight.MilliValue())
			total += uint64(w)
			split.Backends = append(split.Backends, WeightedBackend{Service: ref, Weight: w})
		}
		if len(split.Backends) == 0 {
			b.problems.add(obj, "spec.backends", "no valid backend; TrafficSplit skipped")
			continue
		}
		if total == 0 {
			b.problems.add(obj, "spec.backends", "every weight is zero; TrafficSplit skipped")
			continue
		}
		slices.SortFunc(split.Backends, func(x, y WeightedBackend) int { return compareServices(x.Service, y.Service) })
		owner[rootRef] = obj
		root.Split = split
	}
}

func joinRefs(refs []ObjectRef) string {
	s := make([]string, len(refs))
	for i, r := range refs {
		s[i] = r.String()
	}
	return strings.Join(s, ", ")
}

// SplitBackendPort is the port of a split's backend s that traffic to the
// root's port goes to: the port of the same number, else of the same name.
func (s *Service) SplitBackendPort(root ServicePort) (ServicePort, bool) {
	for _, p := range s.Ports {
		if p.Port == root.Port {
			return p, true
		}
	}
	for _, p := range s.Ports {
		if p.Name == root.Name {
			return p, true
		}
	}
	return ServicePort{}, false
}
