package catalog

import (
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// attachUpstreamTrafficSettings attaches each UpstreamTrafficSetting to the
// Service its host names (in its own namespace). One host takes one setting: the
// oldest wins, later ones are skipped. A host that is no mesh Service is kept
// only if an Egress match names the setting (an external host's limits).
func (b *builder) attachUpstreamTrafficSettings() {
	b.uts = map[ObjectRef]*UpstreamTrafficSetting{}
	named := map[ObjectRef]bool{}
	for _, e := range b.state.Egresses {
		if e == nil {
			continue
		}
		for _, m := range e.Spec.Matches {
			if m.Kind == "UpstreamTrafficSetting" {
				named[ObjectRef{"UpstreamTrafficSetting", e.Namespace, m.Name}] = true
			}
		}
	}
	hosts := map[string]ObjectRef{}
	for _, u := range oldestFirst(b.state.UpstreamTrafficSettings) {
		if !b.monitored[u.Namespace] {
			continue
		}
		obj := ObjectRef{"UpstreamTrafficSetting", u.Namespace, u.Name}
		host := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(u.Spec.Host), "."))
		if host == "" {
			b.problems.add(obj, "spec.host", "empty host; skipped")
			continue
		}
		ref, isName := resolveService(host, u.Namespace)
		svc := b.services[ref]
		if isName && svc != nil {
			host = ref.FQDN()
		}
		if prev, taken := hosts[host]; taken {
			b.problems.add(obj, "spec.host", "%s already sets host %s; skipped", prev, host)
			continue
		}
		setting := &UpstreamTrafficSetting{Policy: obj, Spec: u.Spec}
		switch {
		case svc != nil && ref.Namespace != u.Namespace:
			b.problems.add(obj, "spec.host", "service %s is not in the setting's namespace; skipped", ref)
			continue
		case svc != nil:
			svc.UpstreamTrafficSetting = setting
		case !named[obj]:
			b.problems.add(obj, "spec.host", "host %s is no mesh service and no Egress names the setting; skipped", host)
			continue
		}
		setting.Spec.HTTPRoutes = b.rateLimitedRoutes(obj, u.Spec.HTTPRoutes)
		hosts[host] = obj
		b.uts[obj] = setting
	}
}

// rateLimitedRoutes returns a copy of a setting's per-path routes without those
// whose path regular expression Envoy would refuse, each a problem.
func (b *builder) rateLimitedRoutes(obj ObjectRef, routes []policyv1alpha1.HTTPRouteSpec) []policyv1alpha1.HTTPRouteSpec {
	var out []policyv1alpha1.HTTPRouteSpec
	for i, r := range routes {
		field := fieldIndex("spec.httpRoutes", i, "path")
		if r.Path == "" {
			b.problems.add(obj, field, "empty path; route skipped")
			continue
		}
		if err := rules.EnvoyRegex(r.Path); err != nil {
			b.problems.add(obj, field, "%q: %v; route skipped", r.Path, err)
			continue
		}
		out = append(out, r)
	}
	return out
}

// buildRetries resolves Retry policies (when the feature flag is on): the
// source is a service account of the Retry's namespace, the destinations are
// mesh Services. One source and destination take one policy: the oldest wins.
func (b *builder) buildRetries() {
	b.retries = map[Identity]map[ServiceRef]*RetryPolicy{}
	for _, r := range oldestFirst(b.state.Retries) {
		if !b.monitored[r.Namespace] {
			continue
		}
		obj := ObjectRef{"Retry", r.Namespace, r.Name}
		if !b.settings.Features.EnableRetryPolicy {
			b.problems.add(obj, "", "MeshConfig featureFlags.enableRetryPolicy is off; Retry ignored")
			continue
		}
		spec := r.Spec
		src := Identity{orDefault(spec.Source.Namespace, r.Namespace), spec.Source.Name}
		switch {
		case spec.Source.Kind != "ServiceAccount":
			b.problems.add(obj, "spec.source.kind", "kind %q is not ServiceAccount; Retry skipped", spec.Source.Kind)
			continue
		case src.Namespace != r.Namespace:
			b.problems.add(obj, "spec.source.namespace", "the source %s is not in the Retry's namespace; Retry skipped", src)
			continue
		case !b.identities[src]:
			b.problems.add(obj, "spec.source.name", "service account %s does not exist; Retry skipped", src)
			continue
		case strings.TrimSpace(spec.RetryPolicy.RetryOn) == "":
			b.problems.add(obj, "spec.retryPolicy.retryOn", "empty; Retry skipped")
			continue
		}
		policy := &RetryPolicy{Policy: obj, RetryOn: spec.RetryPolicy.RetryOn, NumRetries: spec.RetryPolicy.NumRetries}
		if d := spec.RetryPolicy.PerTryTimeout; d != nil {
			if d.Duration < 0 {
				b.problems.add(obj, "spec.retryPolicy.perTryTimeout", "negative; Retry skipped")
				continue
			}
			policy.PerTryTimeout = d.Duration
		}
		if d := spec.RetryPolicy.RetryBackoffBaseInterval; d != nil {
			if d.Duration < 0 {
				b.problems.add(obj, "spec.retryPolicy.retryBackoffBaseInterval", "negative; Retry skipped")
				continue
			}
			policy.BackoffBaseInterval = d.Duration
		}
		for i, d := range spec.Destinations {
			ref := ServiceRef{orDefault(d.Namespace, r.Namespace), d.Name}
			field := fieldIndex("spec.destinations", i, "")
			switch {
			case d.Kind != "Service":
				b.problems.add(obj, field+".kind", "kind %q is not Service; destination skipped", d.Kind)
				continue
			case b.services[ref] == nil:
				b.problems.add(obj, field+".name", "service %s does not exist; destination skipped", ref)
				continue
			}
			if b.retries[src] == nil {
				b.retries[src] = map[ServiceRef]*RetryPolicy{}
			}
			if prev := b.retries[src][ref]; prev != nil {
				b.problems.add(obj, field, "%s already sets retries from %s to %s; destination skipped", prev.Policy, src, ref)
				continue
			}
			b.retries[src][ref] = policy
		}
	}
}

// oldestFirst orders policies by creation time, then namespace and name, and
// drops nil ones, so that the oldest of two conflicting policies wins.
func oldestFirst[T interface {
	*policyv1alpha1.UpstreamTrafficSetting | *policyv1alpha1.Retry | *policyv1alpha1.IngressBackend | *policyv1alpha1.Egress
	metav1.Object
}](in []T) []T {
	out := make([]T, 0, len(in))
	for _, o := range in {
		if o != nil && o.GetName() != "" {
			out = append(out, o)
		}
	}
	slices.SortStableFunc(out, func(x, y T) int {
		tx, ty := x.GetCreationTimestamp(), y.GetCreationTimestamp()
		return tx.Compare(ty.Time)
	})
	return out
}
