package catalog

import (
	"slices"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// attachUpstreamTrafficSettings attaches each UpstreamTrafficSetting to the
// Service its host names (in its own namespace), skipping what
// rules.UpstreamTrafficSetting refuses (a route on its own, the setting for
// any other fault). One host takes one setting: the oldest wins, later ones
// are skipped. A host that is no mesh Service is kept only if an Egress match
// names the setting (an external host's limits).
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
	// One host takes one setting, the oldest: the webhook's counterpart is
	// its check for a second claim (pkg/validation's hostClaims), in the same
	// words (rules.HostClaimed) and by the same key (rules.UpstreamHost).
	claims := map[string]ObjectRef{}
	for _, u := range oldestFirst(b.state.UpstreamTrafficSettings) {
		if !b.monitored[u.Namespace] {
			continue
		}
		obj := ObjectRef{"UpstreamTrafficSetting", u.Namespace, u.Name}
		refused := b.refuse(obj, rules.UpstreamTrafficSetting(u), map[string]string{"spec.httpRoutes": "route"})
		if refused.whole {
			continue
		}
		host := u.Spec.Host
		claim := rules.UpstreamHost(host, u.Namespace)
		if prev, taken := claims[claim]; taken {
			b.refuse(obj, field.ErrorList{rules.HostClaimed(host, prev.Namespace, prev.Name)}, nil)
			continue
		}
		ref, _ := resolveService(host, u.Namespace)
		svc := b.services[ref]
		setting := upstreamTrafficSetting(obj, &u.Spec, func(i int) bool { return refused.skips("spec.httpRoutes", i) })
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
		claims[claim] = obj
		b.uts[obj] = setting
	}
}

// buildRetries resolves Retry policies (when the feature flag is on), skipping
// what rules.Retry refuses (a destination on its own, the policy for any other
// fault): the source is a service account of the Retry's namespace, the
// destinations are mesh Services. One source and destination take one policy:
// the oldest wins.
func (b *builder) buildRetries() {
	b.retries = map[identity.Identity]map[ServiceRef]*RetryPolicy{}
	for _, r := range oldestFirst(b.state.Retries) {
		if !b.monitored[r.Namespace] {
			continue
		}
		obj := ObjectRef{"Retry", r.Namespace, r.Name}
		refused := b.refuse(obj, rules.Retry(r), map[string]string{"spec.destinations": "destination"})
		if refused.whole {
			continue
		}
		if !b.features.EnableRetryPolicy {
			b.problems.add(obj, "", "MeshConfig featureFlags.enableRetryPolicy is off; Retry ignored")
			continue
		}
		spec := r.Spec
		src := identity.Identity{Namespace: spec.Source.Namespace, ServiceAccount: spec.Source.Name}
		if !b.identities[src] {
			b.problems.add(obj, "spec.source.name", "service account %s does not exist; Retry skipped", src)
			continue
		}
		policy := &RetryPolicy{Policy: obj, RetryOn: spec.RetryPolicy.RetryOn, NumRetries: spec.RetryPolicy.NumRetries}
		if d := spec.RetryPolicy.PerTryTimeout; d != nil {
			policy.PerTryTimeout = d.Duration
		}
		if d := spec.RetryPolicy.RetryBackoffBaseInterval; d != nil {
			policy.BackoffBaseInterval = d.Duration
		}
		for i, d := range spec.Destinations {
			if refused.skips("spec.destinations", i) {
				continue
			}
			ref := ServiceRef{d.Namespace, d.Name}
			field := fieldIndex("spec.destinations", i, "")
			if b.services[ref] == nil {
				b.problems.add(obj, field+".name", "%s; destination skipped", b.missingService(ref))
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

// upstreamTrafficSetting translates a setting's spec into the model, without
// the routes skip refuses, with the generator's guards: a connect timeout
// under a millisecond is no timeout, and a rate limit of zero is no limit.
func upstreamTrafficSetting(obj ObjectRef, spec *policyv1alpha1.UpstreamTrafficSettingSpec, skip func(int) bool) *UpstreamTrafficSetting {
	u := &UpstreamTrafficSetting{Policy: obj}
	if cs := spec.ConnectionSettings; cs != nil {
		if cs.TCP != nil {
			u.MaxConnections = cloneU32(cs.TCP.MaxConnections)
			if t := cs.TCP.ConnectTimeout; t != nil && t.Duration >= time.Millisecond {
				u.ConnectTimeout = t.Duration
			}
		}
		if cs.HTTP != nil {
			u.MaxRequests = cloneU32(cs.HTTP.MaxRequests)
			u.MaxPendingRequests = cloneU32(cs.HTTP.MaxPendingRequests)
			u.MaxRetries = cloneU32(cs.HTTP.MaxRetries)
			u.MaxRequestsPerConnection = cloneU32(cs.HTTP.MaxRequestsPerConnection)
		}
	}
	if rl := spec.RateLimit; rl != nil && rl.Local != nil {
		if t := rl.Local.TCP; t != nil && t.Connections != 0 {
			u.TCPRateLimit = &TCPRateLimit{Connections: t.Connections, Burst: t.Burst, FillInterval: fillInterval(t.Unit)}
		}
		u.HTTPRateLimit = httpRateLimit(rl.Local.HTTP)
	}
	for i, r := range spec.HTTPRoutes {
		if skip(i) || r.RateLimit == nil {
			continue
		}
		if rl := httpRateLimit(r.RateLimit.Local); rl != nil {
			u.RouteRateLimits = append(u.RouteRateLimits, RouteRateLimit{PathRegex: r.Path, RateLimit: *rl})
		}
	}
	return u
}

// httpRateLimit is a local HTTP rate limit, or nil when it admits nothing countable.
func httpRateLimit(spec *policyv1alpha1.HTTPLocalRateLimitSpec) *HTTPRateLimit {
	if spec == nil || spec.Requests == 0 {
		return nil
	}
	rl := &HTTPRateLimit{Requests: spec.Requests, Burst: spec.Burst, FillInterval: fillInterval(spec.Unit), ResponseStatusCode: spec.ResponseStatusCode}
	for _, h := range spec.ResponseHeadersToAdd {
		rl.ResponseHeadersToAdd = append(rl.ResponseHeadersToAdd, Header{Name: h.Name, Value: h.Value})
	}
	return rl
}

// fillInterval is a rate limit's unit as a duration; a second unless minute or hour.
func fillInterval(unit policyv1alpha1.RateLimitUnit) time.Duration {
	switch unit {
	case "minute":
		return time.Minute
	case "hour":
		return time.Hour
	}
	return time.Second
}

func cloneU32(v *uint32) *uint32 {
	if v == nil {
		return nil
	}
	n := *v
	return &n
}
