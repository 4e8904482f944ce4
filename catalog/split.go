package catalog

import (
	"slices"

	"k8s.io/apimachinery/pkg/api/resource"

	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
)

// maxWeight bounds a backend's weight (a million) so that thousandths fit a uint32.
var maxWeight = resource.MustParse("1M")

// attachSplits resolves TrafficSplits onto their root Services. The root and the
// backends must be Services of the split's namespace. When two splits name one
// root, the older one (then the first by name) wins.
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
		rootRef, ok := resolveService(ts.Spec.Service, ts.Namespace)
		if !ok {
			b.problems.add(obj, "spec.service", "%q is not a service name; TrafficSplit skipped", ts.Spec.Service)
			continue
		}
		if rootRef.Namespace != ts.Namespace {
			b.problems.add(obj, "spec.service", "the root service %s is not in the TrafficSplit's namespace; TrafficSplit skipped", rootRef)
			continue
		}
		root := b.services[rootRef]
		if root == nil {
			b.problems.add(obj, "spec.service", "service %s does not exist; TrafficSplit skipped", rootRef)
			continue
		}
		if prev, taken := owner[rootRef]; taken {
			b.problems.add(obj, "spec.service", "%s already splits service %s; TrafficSplit skipped", prev, rootRef)
			continue
		}
		if len(ts.Spec.Matches) > 0 {
			b.problems.add(obj, "spec.matches", "route matches in a TrafficSplit are not supported; the split applies to all traffic")
		}
		split := &Split{Policy: obj}
		var total uint64
		for i, be := range ts.Spec.Backends {
			field := fieldIndex("spec.backends", i, "")
			ref, ok := resolveService(be.Service, ts.Namespace)
			switch {
			case !ok:
				b.problems.add(obj, field+".service", "%q is not a service name; backend skipped", be.Service)
				continue
			case ref.Namespace != ts.Namespace:
				b.problems.add(obj, field+".service", "backend %s is not in the TrafficSplit's namespace; backend skipped", ref)
				continue
			case b.services[ref] == nil:
				b.problems.add(obj, field+".service", "service %s does not exist; backend skipped", ref)
				continue
			case slices.ContainsFunc(split.Backends, func(w WeightedBackend) bool { return w.Service == ref }):
				b.problems.add(obj, field+".service", "backend %s is listed twice; skipped", ref)
				continue
			}
			w, reason := weight(be.Weight)
			if reason != "" {
				b.problems.add(obj, field+".weight", "%s; backend skipped", reason)
				continue
			}
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

// weight reads a quantity ("500m", "50", "1") as thousandths.
func weight(q resource.Quantity) (uint32, string) {
	if q.Sign() < 0 {
		return 0, "weight " + q.String() + " is negative"
	}
	if q.Cmp(maxWeight) > 0 {
		return 0, "weight " + q.String() + " is above 1M"
	}
	return uint32(q.MilliValue()), ""
}
