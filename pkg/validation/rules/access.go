package rules

import (
	"fmt"
	"maps"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"
)

// TrafficTarget checks that the target lives in its destination's namespace,
// as SMI requires (the destination's owner grants access, not the source),
// that its subjects are service accounts, each source naming its namespace,
// and that its rules name HTTPRouteGroups or TCPRoutes. The catalog skips a
// source or a rule at fault, and the TrafficTarget for a fault in its
// destination.
func TrafficTarget(tt *smiaccess.TrafficTarget) field.ErrorList {
	var errs field.ErrorList
	dst := spec.Child("destination")
	errs = append(errs, oneOf(dst.Child("kind"), tt.Spec.Destination.Kind, "ServiceAccount")...)
	if ns := tt.Spec.Destination.Namespace; ns != "" && ns != tt.Namespace {
		errs = append(errs, field.Invalid(dst.Child("namespace"), ns,
			fmt.Sprintf("must be the TrafficTarget's own namespace %q: a TrafficTarget lives in its destination's namespace", tt.Namespace)))
	}
	for i, src := range tt.Spec.Sources {
		errs = append(errs, sourceAccount(spec.Child("sources").Index(i), src.Kind, src.Namespace)...)
	}
	for i, r := range tt.Spec.Rules {
		errs = append(errs, oneOf(spec.Child("rules").Index(i).Child("kind"), r.Kind, "HTTPRouteGroup", "TCPRoute")...)
	}
	return errs
}

// sourceAccount checks a policy's source: a service account, with its
// namespace (an empty one would name nobody's identity).
func sourceAccount(p *field.Path, kind, namespace string) field.ErrorList {
	errs := oneOf(p.Child("kind"), kind, "ServiceAccount")
	if namespace == "" {
		errs = append(errs, field.Required(p.Child("namespace"), "a source service account needs its namespace"))
	}
	return errs
}

// HTTPMethods are the methods an HTTPRouteGroup match may name, as the SMI
// CRD's enum lists them: "*" is any method.
var HTTPMethods = []string{"*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"}

// HTTPRouteGroup checks every match, each on its own (the catalog skips the
// match at fault): a name, unique in the group; a path regular expression
// Envoy takes (RE2, within Envoy's program size limit); methods from
// HTTPMethods, exactly as written there; and headers that are HTTP header
// names with a regular expression Envoy takes for the value. An empty value
// would match nothing Envoy can express: ".*" is any value.
func HTTPRouteGroup(g *smispecs.HTTPRouteGroup) field.ErrorList {
	var errs field.ErrorList
	seen := map[string]bool{}
	for i, m := range g.Spec.Matches {
		p := spec.Child("matches").Index(i)
		switch {
		case m.Name == "":
			errs = append(errs, field.Required(p.Child("name"), "name the match: TrafficTarget rules refer to it by name"))
		case seen[m.Name]:
			errs = append(errs, field.Duplicate(p.Child("name"), m.Name))
		}
		seen[m.Name] = true
		errs = append(errs, regex(p.Child("pathRegex"), m.PathRegex)...)
		for j, method := range m.Methods {
			errs = append(errs, oneOf(p.Child("methods").Index(j), method, HTTPMethods...)...)
		}
		// In name order, so that the same input always gives the same errors.
		for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
			value := m.Headers[name]
			if err := headerName(name, true); err != nil {
				errs = append(errs, field.Invalid(p.Child("headers"), name, err.Error()))
				continue
			}
			hp := p.Child("headers").Key(name)
			if value == "" {
				errs = append(errs, field.Required(hp, `a regular expression for the header's value, such as ".*" for any value`))
				continue
			}
			errs = append(errs, regex(hp, value)...)
		}
	}
	return errs
}

// headerName checks an HTTP header name (an RFC 9110 token, in any case), or,
// when pseudo, a pseudo-header such as :authority too.
func headerName(name string, pseudo bool) error {
	want := "must be an HTTP header name such as x-user"
	token := name
	if pseudo {
		want += " or :authority"
		token = strings.TrimPrefix(name, ":")
	}
	if token == "" {
		return fmt.Errorf("%s: empty", want)
	}
	for _, c := range token {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c)) {
			return fmt.Errorf("%s: %q is not allowed", want, c)
		}
	}
	return nil
}

// TCPRoute checks the route's ports, as the CRD schema does (the catalog skips
// the port at fault).
func TCPRoute(r *smispecs.TCPRoute) field.ErrorList {
	var errs field.ErrorList
	for i, port := range r.Spec.Matches.Ports {
		errs = append(errs, portNumber(spec.Child("matches", "ports").Index(i), port)...)
	}
	return errs
}
