package rules

import (
	"fmt"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
)

// RateLimitUnits are the units of a local rate limit, as the CRD's enum lists them.
var RateLimitUnits = []policyv1alpha1.RateLimitUnit{"second", "minute", "hour"}

// UpstreamTrafficSetting checks one setting: a host in lower case (a service's
// name, or an external host an Egress attaches the setting to), rate limits
// in the units the schema allows with an HTTP status code, and per-path routes
// whose path is a regular expression Envoy takes. The catalog skips a route
// at fault, and the setting for any other fault. A second setting for the same
// host is a conflict between objects: see HostClaimed.
func UpstreamTrafficSetting(u *policyv1alpha1.UpstreamTrafficSetting) field.ErrorList {
	var errs field.ErrorList
	if err := lowerDNSName(u.Spec.Host); err != nil {
		errs = append(errs, field.Invalid(spec.Child("host"), u.Spec.Host, "must be a service's host name such as bookstore.bookstore.svc.cluster.local"))
	}
	if rl := u.Spec.RateLimit; rl != nil && rl.Local != nil {
		p := spec.Child("rateLimit", "local")
		if tcp := rl.Local.TCP; tcp != nil {
			errs = append(errs, oneOf(p.Child("tcp", "unit"), tcp.Unit, RateLimitUnits...)...)
		}
		errs = append(errs, httpRateLimit(p.Child("http"), rl.Local.HTTP)...)
	}
	for i, r := range u.Spec.HTTPRoutes {
		p := spec.Child("httpRoutes").Index(i)
		if r.Path == "" {
			errs = append(errs, field.Required(p.Child("path"), "a regular expression for the request path, such as /books/.*"))
		} else {
			errs = append(errs, regex(p.Child("path"), r.Path)...)
		}
		if r.RateLimit != nil {
			errs = append(errs, httpRateLimit(p.Child("rateLimit", "local"), r.RateLimit.Local)...)
		}
	}
	return errs
}

func httpRateLimit(p *field.Path, rl *policyv1alpha1.HTTPLocalRateLimitSpec) field.ErrorList {
	if rl == nil {
		return nil
	}
	errs := oneOf(p.Child("unit"), rl.Unit, RateLimitUnits...)
	if c := rl.ResponseStatusCode; c != 0 && (c < 100 || c > 599) {
		errs = append(errs, field.Invalid(p.Child("responseStatusCode"), c, "must be an HTTP status code from 100 to 599"))
	}
	for i, h := range rl.ResponseHeadersToAdd {
		if err := headerName(h.Name, false); err != nil {
			errs = append(errs, field.Invalid(p.Child("responseHeadersToAdd").Index(i).Child("name"), h.Name, err.Error()))
		}
	}
	return errs
}

// UpstreamHost is what an UpstreamTrafficSetting of namespace ns claims with
// host: the service, however its name is written (web.b and
// web.b.svc.cluster.local claim one service), or else the host itself. One
// claim takes one setting.
func UpstreamHost(host, ns string) string {
	if svcNamespace, name, ok := ServiceName(host, ns); ok {
		return "service " + svcNamespace + "/" + name
	}
	return "host " + host
}

// HostClaimed is the error of an UpstreamTrafficSetting whose host (the same
// UpstreamHost) UpstreamTrafficSetting namespace/name already claims. The
// webhook finds the claim by listing the settings in the cluster; the catalog
// by taking settings oldest first.
func HostClaimed(host, namespace, name string) *field.Error {
	return field.Invalid(spec.Child("host"), host,
		fmt.Sprintf("already claimed by UpstreamTrafficSetting %s/%s: one host takes one setting", namespace, name))
}

// Retry checks that the policy lives in its source's namespace, that the
// source is a service account and the destinations services with their
// namespaces, and the policy: conditions to retry on, a positive per-try
// timeout and a backoff of at least a millisecond (Envoy's resolution). The
// catalog skips a destination at fault, and the Retry for any other fault.
func Retry(r *policyv1alpha1.Retry) field.ErrorList {
	var errs field.ErrorList
	src := spec.Child("source")
	errs = append(errs, oneOf(src.Child("kind"), r.Spec.Source.Kind, "ServiceAccount")...)
	if r.Spec.Source.Namespace != r.Namespace {
		errs = append(errs, field.Invalid(src.Child("namespace"), r.Spec.Source.Namespace,
			fmt.Sprintf("must be the Retry's own namespace %q: a Retry lives in its source's namespace", r.Namespace)))
	}
	for i, d := range r.Spec.Destinations {
		p := spec.Child("destinations").Index(i)
		errs = append(errs, oneOf(p.Child("kind"), d.Kind, "Service")...)
		if d.Namespace == "" {
			errs = append(errs, field.Required(p.Child("namespace"), "a destination service needs its namespace"))
		}
	}
	policy := spec.Child("retryPolicy")
	if strings.TrimSpace(r.Spec.RetryPolicy.RetryOn) == "" {
		errs = append(errs, field.Required(policy.Child("retryOn"), `the conditions to retry on, such as "5xx,reset"`))
	}
	if d := r.Spec.RetryPolicy.PerTryTimeout; d != nil && d.Duration <= 0 {
		errs = append(errs, field.Invalid(policy.Child("perTryTimeout"), d.Duration.String(), "must be positive"))
	}
	if d := r.Spec.RetryPolicy.RetryBackoffBaseInterval; d != nil && d.Duration < time.Millisecond {
		errs = append(errs, field.Invalid(policy.Child("retryBackoffBaseInterval"), d.Duration.String(), "must be at least 1ms"))
	}
	return errs
}
