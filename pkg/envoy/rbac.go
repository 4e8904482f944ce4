package envoy

import (
	"fmt"
	"strings"

	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	rbacnetv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/rbac/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/identity"
)

// Envoy's RBAC filters deny with 403 "RBAC: access denied" (HTTP) or close the
// connection (TCP) when no policy admits the request. An ALLOW RBAC with no
// policy denies everything, which is what a port without permission gets.

// policies collects named RBAC policies, keeping names unique.
type policies map[string]*rbacv3.Policy

func (p policies) add(name string, pol *rbacv3.Policy) {
	if len(pol.Principals) == 0 || len(pol.Permissions) == 0 {
		return
	}
	n := name
	for i := 2; p[n] != nil; i++ {
		n = fmt.Sprintf("%s#%d", name, i)
	}
	p[n] = pol
}

// principalsOnly are p admitting their principals to everything.
func (p policies) principalsOnly() policies {
	out := policies{}
	for name, pol := range p {
		out[name] = &rbacv3.Policy{Principals: pol.Principals, Permissions: []*rbacv3.Permission{anyPermission()}}
	}
	return out
}

func (p policies) rules() *rbacv3.RBAC {
	return &rbacv3.RBAC{Action: rbacv3.RBAC_ALLOW, Policies: p}
}

func (g *gen) httpRBAC(p policies) *rbachttpv3.RBAC {
	return &rbachttpv3.RBAC{Rules: p.rules()}
}

func (g *gen) networkRBAC(p policies, statPrefix string) *rbacnetv3.RBAC {
	return &rbacnetv3.RBAC{Rules: p.rules(), StatPrefix: statPrefix}
}

// inboundPolicies are who may reach a local Service port from the mesh: any
// authenticated mesh identity in permissive mode, else each TrafficTarget's
// sources, for all traffic or for its HTTP matches (on HTTP ports only).
func (g *gen) inboundPolicies(in catalog.InboundPort) policies {
	p := policies{}
	if in.AllowAll {
		p.add("allow-all-mesh-identities", &rbacv3.Policy{
			Principals:  []*rbacv3.Principal{anyAuthenticated()},
			Permissions: []*rbacv3.Permission{anyPermission()},
		})
		return p
	}
	http := in.Port.Protocol.IsHTTP()
	for _, r := range in.Rules {
		pol := &rbacv3.Policy{Principals: g.identityPrincipals(r.Sources)}
		switch {
		case r.AllTraffic:
			pol.Permissions = []*rbacv3.Permission{anyPermission()}
		case http:
			pol.Permissions = httpPermissions(r.HTTPMatches)
		}
		name := r.Policy.Namespace + "/" + r.Policy.Name
		if r.Policy.Kind != "TrafficTarget" {
			// A Gateway's admission, apart from a TrafficTarget of its name.
			name = strings.ToLower(r.Policy.Kind) + ":" + name
		}
		p.add(name, pol)
	}
	return p
}

// ingressPolicies are who an IngressBackend rule admits: with verified
// client certificates, the rule's AuthenticatedPrincipals if it names some,
// else any certificate the mesh roots sign; without, anyone its source
// addresses allow (the chain matches those). On an HTTP chain, the rule's
// HTTP matches narrow the admitted requests.
func ingressPolicies(r *catalog.IngressRule, verify, http bool) policies {
	principals := []*rbacv3.Principal{anyPrincipal()}
	switch {
	case verify && len(r.SourcePrincipals) > 0:
		principals = nil
		for _, p := range r.SourcePrincipals {
			principals = append(principals, principalName(p))
		}
	case verify:
		principals = []*rbacv3.Principal{anyAuthenticated()}
	}
	perms := []*rbacv3.Permission{anyPermission()}
	if http && len(r.HTTPMatches) > 0 {
		perms = httpPermissions(r.HTTPMatches)
	}
	p := policies{}
	p.add(r.Policy.Namespace+"/"+r.Policy.Name, &rbacv3.Policy{Principals: principals, Permissions: perms})
	return p
}

// identityPrincipals admit the certificates of identities: by their SPIFFE
// URI SAN or their <sa>.<ns>.<td> name (Envoy reads a URI SAN first, then a
// DNS SAN, then the subject).
func (g *gen) identityPrincipals(ids []identity.Identity) []*rbacv3.Principal {
	var out []*rbacv3.Principal
	for _, id := range ids {
		out = append(out, principalName(id.CommonName(g.trustDomain)), principalName(id.SPIFFEID(g.trustDomain).String()))
	}
	return out
}

func principalName(name string) *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{Authenticated: &rbacv3.Principal_Authenticated{PrincipalName: exact(name)}}}
}

func anyAuthenticated() *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Authenticated_{Authenticated: &rbacv3.Principal_Authenticated{}}}
}

func anyPrincipal() *rbacv3.Principal {
	return &rbacv3.Principal{Identifier: &rbacv3.Principal_Any{Any: true}}
}

func anyPermission() *rbacv3.Permission {
	return &rbacv3.Permission{Rule: &rbacv3.Permission_Any{Any: true}}
}

// httpPermissions admit a request matching any of ms. A match that cannot be
// expressed (a bad regular expression or header name) is left out.
func httpPermissions(ms []catalog.HTTPMatch) []*rbacv3.Permission {
	var out []*rbacv3.Permission
	for _, m := range ms {
		if p, ok := httpPermission(m); ok {
			out = append(out, p)
		}
	}
	return out
}

// httpPermission requires every condition of m: the path (without query) as
// an RE2 regular expression, one of the methods, and every header.
func httpPermission(m catalog.HTTPMatch) (*rbacv3.Permission, bool) {
	var rules []*rbacv3.Permission
	if m.PathRegex != "" {
		if !validRegex(m.PathRegex) {
			return nil, false
		}
		rules = append(rules, &rbacv3.Permission{Rule: &rbacv3.Permission_UrlPath{UrlPath: &matcherv3.PathMatcher{
			Rule: &matcherv3.PathMatcher_Path{Path: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: regex(m.PathRegex)}}},
		}}})
	}
	if len(m.Methods) > 0 {
		var methods []*rbacv3.Permission
		for _, meth := range m.Methods {
			methods = append(methods, &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: &routev3.HeaderMatcher{
				Name:                 ":method",
				HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: exact(meth)},
			}}})
		}
		rules = append(rules, orPermissions(methods))
	}
	for _, h := range m.Headers {
		if !validRegex(h.ValueRegex) {
			return nil, false
		}
		rules = append(rules, &rbacv3.Permission{Rule: &rbacv3.Permission_Header{Header: headerRegex(headerName(h.Name), h.ValueRegex)}})
	}
	var p *rbacv3.Permission
	switch len(rules) {
	case 0:
		p = anyPermission()
	case 1:
		p = rules[0]
	default:
		p = &rbacv3.Permission{Rule: &rbacv3.Permission_AndRules{AndRules: &rbacv3.Permission_Set{Rules: rules}}}
	}
	if p.ValidateAll() != nil {
		return nil, false
	}
	return p, true
}

func orPermissions(ps []*rbacv3.Permission) *rbacv3.Permission {
	if len(ps) == 1 {
		return ps[0]
	}
	return &rbacv3.Permission{Rule: &rbacv3.Permission_OrRules{OrRules: &rbacv3.Permission_Set{Rules: ps}}}
}
