package validation

import (
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"

	"github.com/weft-mesh/weft/ca"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

var spec = field.NewPath("spec")

// TrafficTarget checks that the target lives in its destination's namespace, as
// SMI requires: the destination's owner grants access, not the source.
func TrafficTarget(tt *smiaccess.TrafficTarget) field.ErrorList {
	var errs field.ErrorList
	dst := spec.Child("destination")
	if ns := tt.Spec.Destination.Namespace; ns != "" && ns != tt.Namespace {
		errs = append(errs, field.Invalid(dst.Child("namespace"), ns,
			fmt.Sprintf("must be the TrafficTarget's own namespace %q: a TrafficTarget lives in its destination's namespace", tt.Namespace)))
	}
	for i, src := range tt.Spec.Sources {
		if src.Namespace == "" {
			errs = append(errs, field.Required(spec.Child("sources").Index(i).Child("namespace"), "a source service account needs its namespace"))
		}
	}
	return errs
}

// HTTPRouteGroup checks that match names are unique and that Envoy takes
// every regular expression Weft makes of a match (path, headers, methods):
// RE2 syntax, and a program within Envoy's size limit (rules.EnvoyRegex, the
// catalog's rule too).
func HTTPRouteGroup(g *smispecs.HTTPRouteGroup) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, m := range g.Spec.Matches {
		p := spec.Child("matches").Index(i)
		if seen[m.Name] {
			errs = append(errs, field.Duplicate(p.Child("name"), m.Name))
		}
		seen[m.Name] = true
		errs = append(errs, envoyRegex(p.Child("pathRegex"), m.PathRegex)...)
		errs = append(errs, methods(p.Child("methods"), m.Methods)...)
		for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
			errs = append(errs, envoyRegex(p.Child("headers").Key(name), m.Headers[name])...)
		}
	}
	return errs
}

// TrafficSplit checks that the split has a root service and backends, that no
// weight is negative, that some weight is positive and no backend repeats.
func TrafficSplit(ts *splitv1alpha2.TrafficSplit) field.ErrorList {
	var errs field.ErrorList
	if ts.Spec.Service == "" {
		errs = append(errs, field.Required(spec.Child("service"), "name the root service"))
	}
	backends := spec.Child("backends")
	if len(ts.Spec.Backends) == 0 {
		return append(errs, field.Required(backends, "a TrafficSplit needs at least one backend"))
	}
	seen := map[string]bool{}
	positive := false
	for i, b := range ts.Spec.Backends {
		p := backends.Index(i)
		if seen[b.Service] {
			errs = append(errs, field.Duplicate(p.Child("service"), b.Service))
		}
		seen[b.Service] = true
		switch b.Weight.Sign() {
		case -1:
			errs = append(errs, field.Invalid(p.Child("weight"), b.Weight.String(), "must not be negative"))
		case 1:
			positive = true
		}
	}
	if !positive && len(errs) == 0 {
		errs = append(errs, field.Invalid(backends, len(ts.Spec.Backends), "at least one backend needs a positive weight"))
	}
	return errs
}

// IngressBackend checks backend protocols and source names.
func IngressBackend(ib *policyv1alpha1.IngressBackend) field.ErrorList {
	var errs field.ErrorList
	for i, b := range ib.Spec.Backends {
		p := spec.Child("backends").Index(i)
		errs = append(errs, protocol(p.Child("port", "protocol"), b.Port.Protocol,
			policyv1alpha1.ProtocolHTTP, policyv1alpha1.ProtocolHTTPS, policyv1alpha1.ProtocolTCP, policyv1alpha1.ProtocolGRPC)...)
		if len(b.TLS.SNIHosts) > 0 && !strings.EqualFold(b.Port.Protocol, policyv1alpha1.ProtocolHTTPS) {
			errs = append(errs, field.Invalid(p.Child("tls", "sniHosts"), b.TLS.SNIHosts, "SNI hosts need protocol https"))
		}
	}
	for i, s := range ib.Spec.Sources {
		p := spec.Child("sources").Index(i)
		switch s.Kind {
		case policyv1alpha1.KindIPRange:
			errs = append(errs, cidr(p.Child("name"), s.Name)...)
		case policyv1alpha1.KindService:
			if s.Namespace == "" {
				errs = append(errs, field.Required(p.Child("namespace"), "a Service source needs the namespace of the ingress controller's Service"))
			}
		case policyv1alpha1.KindAuthenticatedPrincipal:
			for _, msg := range validation.IsDNS1123Subdomain(s.Name) {
				errs = append(errs, field.Invalid(p.Child("name"), s.Name, "must be a principal such as ingress-nginx.ingress-nginx.cluster.local: "+msg))
			}
		}
	}
	return errs
}

// Egress checks that the policy names hosts or IP ranges and that they parse.
func Egress(eg *policyv1alpha1.Egress) field.ErrorList {
	var errs field.ErrorList
	if len(eg.Spec.Hosts) == 0 && len(eg.Spec.IPAddresses) == 0 {
		errs = append(errs, field.Required(spec.Child("hosts"), "an Egress names hosts or ipAddresses"))
	}
	for i, h := range eg.Spec.Hosts {
		if err := rules.EgressHost(h); err != nil {
			errs = append(errs, field.Invalid(spec.Child("hosts").Index(i), h, err.Error()))
		}
	}
	for i, a := range eg.Spec.IPAddresses {
		errs = append(errs, cidr(spec.Child("ipAddresses").Index(i), a)...)
	}
	for i, port := range eg.Spec.Ports {
		errs = append(errs, protocol(spec.Child("ports").Index(i).Child("protocol"), port.Protocol,
			policyv1alpha1.ProtocolHTTP, policyv1alpha1.ProtocolHTTPS, policyv1alpha1.ProtocolTCP)...)
	}
	for i, m := range eg.Spec.Matches {
		if m.Kind != "HTTPRouteGroup" && m.Kind != "UpstreamTrafficSetting" {
			errs = append(errs, field.NotSupported(spec.Child("matches").Index(i).Child("kind"), m.Kind, []string{"HTTPRouteGroup", "UpstreamTrafficSetting"}))
		}
	}
	return errs
}

// UpstreamTrafficSetting checks one setting; conflicts between settings are the
// webhook's to find, since they need the other objects.
func UpstreamTrafficSetting(u *policyv1alpha1.UpstreamTrafficSetting) field.ErrorList {
	var errs field.ErrorList
	if msgs := validation.IsDNS1123Subdomain(u.Spec.Host); len(msgs) > 0 {
		errs = append(errs, field.Invalid(spec.Child("host"), u.Spec.Host, "must be a service's host name such as bookstore.bookstore.svc.cluster.local"))
	}
	for i, r := range u.Spec.HTTPRoutes {
		errs = append(errs, envoyRegex(spec.Child("httpRoutes").Index(i).Child("path"), r.Path)...)
	}
	return errs
}

// Retry checks that the policy lives in its source's namespace and names
// services as destinations.
func Retry(r *policyv1alpha1.Retry) field.ErrorList {
	var errs field.ErrorList
	src := spec.Child("source")
	if r.Spec.Source.Kind != "ServiceAccount" {
		errs = append(errs, field.NotSupported(src.Child("kind"), r.Spec.Source.Kind, []string{"ServiceAccount"}))
	}
	if r.Spec.Source.Namespace != r.Namespace {
		errs = append(errs, field.Invalid(src.Child("namespace"), r.Spec.Source.Namespace,
			fmt.Sprintf("must be the Retry's own namespace %q: a Retry lives in its source's namespace", r.Namespace)))
	}
	for i, d := range r.Spec.Destinations {
		if d.Kind != "Service" {
			errs = append(errs, field.NotSupported(spec.Child("destinations").Index(i).Child("kind"), d.Kind, []string{"Service"}))
		}
	}
	policy := spec.Child("retryPolicy")
	if d := r.Spec.RetryPolicy.PerTryTimeout; d != nil && d.Duration <= 0 {
		errs = append(errs, field.Invalid(policy.Child("perTryTimeout"), d.Duration.String(), "must be positive"))
	}
	if d := r.Spec.RetryPolicy.RetryBackoffBaseInterval; d != nil && d.Duration <= 0 {
		errs = append(errs, field.Invalid(policy.Child("retryBackoffBaseInterval"), d.Duration.String(), "must be positive"))
	}
	return errs
}

// MeshConfig checks durations and address lists, and spec.certificate with
// ca.ValidateMeshConfig.
func MeshConfig(mc *configv1alpha2.MeshConfig) field.ErrorList {
	var errs field.ErrorList
	s := mc.Spec
	errs = append(errs, duration(spec.Child("sidecar", "configResyncInterval"), s.Sidecar.ConfigResyncInterval, false)...)
	// What the CA reads from spec.certificate is checked by the CA's own rules.
	errs = append(errs, ca.ValidateMeshConfig(mc)...)
	errs = append(errs, duration(spec.Child("traffic", "inboundExternalAuthorization", "timeout"), s.Traffic.InboundExternalAuthorization.Timeout, false)...)
	traffic := spec.Child("traffic")
	for i, c := range s.Traffic.OutboundIPRangeExclusionList {
		errs = append(errs, cidr(traffic.Child("outboundIPRangeExclusionList").Index(i), c)...)
	}
	for i, c := range s.Traffic.OutboundIPRangeInclusionList {
		errs = append(errs, cidr(traffic.Child("outboundIPRangeInclusionList").Index(i), c)...)
	}
	if gw := s.Certificate.IngressGateway; gw != nil {
		p := spec.Child("certificate", "ingressGateway")
		if gw.Secret.Name == "" {
			errs = append(errs, field.Required(p.Child("secret", "name"), "name the Secret that keeps the ingress gateway's certificate"))
		}
		for i, san := range gw.SubjectAltNames {
			if msgs := validation.IsDNS1123Subdomain(strings.TrimPrefix(san, "*.")); len(msgs) > 0 {
				errs = append(errs, field.Invalid(p.Child("subjectAltNames").Index(i), san, "must be a DNS name"))
			}
		}
	}
	return errs
}

// envoyRegex refuses a regular expression Envoy would not take.
func envoyRegex(p *field.Path, re string) field.ErrorList {
	if err := rules.EnvoyRegex(re); err != nil {
		return field.ErrorList{field.Invalid(p, re, err.Error())}
	}
	return nil
}

// methods refuses the methods of a match whose regular expression (the
// generator matches :method with one) Envoy would not take. "*" is any method.
func methods(p *field.Path, ms []string) field.ErrorList {
	var upper []string
	for _, m := range ms {
		m = strings.ToUpper(strings.TrimSpace(m))
		if m == "*" {
			return nil
		}
		upper = append(upper, m)
	}
	if len(upper) == 0 {
		return nil
	}
	slices.Sort(upper)
	return envoyRegex(p, rules.MethodsRegex(slices.Compact(upper)))
}

func protocol(p *field.Path, got string, allowed ...string) field.ErrorList {
	for _, a := range allowed {
		if got == a {
			return nil
		}
	}
	return field.ErrorList{field.NotSupported(p, got, allowed)}
}

func cidr(p *field.Path, s string) field.ErrorList {
	if _, err := netip.ParsePrefix(s); err != nil {
		return field.ErrorList{field.Invalid(p, s, "must be a CIDR such as 10.0.0.0/8")}
	}
	return nil
}

func duration(p *field.Path, s string, positive bool) field.ErrorList {
	if s == "" {
		return nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return field.ErrorList{field.Invalid(p, s, `must be a duration such as "24h" or "90s"`)}
	case d < 0 || (positive && d == 0):
		return field.ErrorList{field.Invalid(p, s, "must be positive")}
	}
	return nil
}
