package rules

import (
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation/field"

	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
)

// MaxWeight bounds a split backend's weight, so that its thousandths fit a
// uint32. Weights are relative: 1 and 1 split as 1M and 1M do.
const MaxWeight = 1_000_000

// TrafficSplit checks that the split names a root service of its own
// namespace (OSM applies a split only to a root there) and backends, each a
// service of that namespace, listed once, with a weight from 0 to MaxWeight;
// and that some backend without a fault has a positive weight. The catalog
// skips a backend at fault, and the split for any other fault.
func TrafficSplit(ts *splitv1alpha2.TrafficSplit) field.ErrorList {
	var errs field.ErrorList
	if ts.Spec.Service == "" {
		errs = append(errs, field.Required(spec.Child("service"), "name the root service"))
	} else {
		errs = append(errs, splitService(spec.Child("service"), ts.Spec.Service, ts.Namespace)...)
	}
	backends := spec.Child("backends")
	if len(ts.Spec.Backends) == 0 {
		return append(errs, field.Required(backends, "a TrafficSplit needs at least one backend"))
	}
	seen := map[[2]string]bool{}
	valid, positive := false, false
	for i, b := range ts.Spec.Backends {
		p := backends.Index(i)
		bad := splitService(p.Child("service"), b.Service, ts.Namespace)
		if ns, name, ok := ServiceName(b.Service, ts.Namespace); ok && len(bad) == 0 {
			if seen[[2]string{ns, name}] {
				bad = append(bad, field.Duplicate(p.Child("service"), b.Service))
			}
			seen[[2]string{ns, name}] = true
		}
		switch {
		case b.Weight.Sign() < 0:
			bad = append(bad, field.Invalid(p.Child("weight"), b.Weight.String(), "must not be negative"))
		case b.Weight.CmpInt64(MaxWeight) > 0:
			bad = append(bad, field.Invalid(p.Child("weight"), b.Weight.String(), "must be at most 1M: weights are relative, so 1 and 3 split as 1M and 3M do"))
		}
		if len(bad) == 0 {
			valid = true
			positive = positive || b.Weight.Sign() > 0
		}
		errs = append(errs, bad...)
	}
	if valid && !positive {
		errs = append(errs, field.Invalid(backends, len(ts.Spec.Backends), "at least one backend needs a positive weight"))
	}
	return errs
}

// splitService checks a service named by a split: a service name, of the
// split's namespace.
func splitService(p *field.Path, name, namespace string) field.ErrorList {
	ns, _, ok := ServiceName(name, namespace)
	switch {
	case !ok:
		return field.ErrorList{field.Invalid(p, name, "must be a service name such as bookstore, bookstore.bookstore or bookstore.bookstore.svc.cluster.local")}
	case ns != namespace:
		return field.ErrorList{field.Invalid(p, name, fmt.Sprintf("must be a service of the TrafficSplit's own namespace %q", namespace))}
	}
	return nil
}
