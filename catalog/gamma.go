package catalog

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weft-mesh/weft/pkg/k8s/state"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// GAMMA: Gateway API routes whose parent is a Service program that Service's
// clients. Problems on routes start with the Gateway API condition reason
// they stand for ("BackendNotFound: ..."), which is how the status writer
// (pkg/k8s) turns them into each parent's Accepted and ResolvedRefs; see
// docs/gateway-api.md.

// gammaRoute is an HTTPRoute or a GRPCRoute read into one shape.
type gammaRoute struct {
	obj       ObjectRef
	hostnames []string
	created   metav1.Time
	parents   []gatewayv1.ParentReference
	rules     []gammaRule
}

type gammaRule struct {
	matches  []RouteMatch
	filters  []gammaFilter
	backends []gammaBackend
	timeouts *gatewayv1.HTTPRouteTimeouts
	// unsupported names the rule's fields Weft does not carry out.
	unsupported []string
}

type gammaFilter struct {
	typ              string
	request, respons *gatewayv1.HTTPHeaderFilter
}

type gammaBackend struct {
	ref     gatewayv1.BackendRef
	filters int
}

func (b *builder) gammaRoutes() []gammaRoute {
	var out []gammaRoute
	for _, r := range b.state.HTTPRoutes {
		if r == nil || r.Name == "" || !b.monitored[r.Namespace] {
			continue
		}
		g := gammaRoute{obj: ObjectRef{"HTTPRoute", r.Namespace, r.Name}, hostnames: hostnameStrings(r.Spec.Hostnames), created: r.CreationTimestamp, parents: r.Spec.ParentRefs}
		for _, rule := range r.Spec.Rules {
			gr := gammaRule{timeouts: rule.Timeouts}
			for _, m := range rule.Matches {
				gr.matches = append(gr.matches, httpRouteMatch(m))
			}
			for _, f := range rule.Filters {
				gr.filters = append(gr.filters, gammaFilter{string(f.Type), f.RequestHeaderModifier, f.ResponseHeaderModifier})
			}
			for _, be := range rule.BackendRefs {
				gr.backends = append(gr.backends, gammaBackend{be.BackendRef, len(be.Filters)})
			}
			if rule.Retry != nil {
				gr.unsupported = append(gr.unsupported, "retry")
			}
			if rule.SessionPersistence != nil {
				gr.unsupported = append(gr.unsupported, "sessionPersistence")
			}
			g.rules = append(g.rules, gr)
		}
		out = append(out, g)
	}
	for _, r := range b.state.GRPCRoutes {
		if r == nil || r.Name == "" || !b.monitored[r.Namespace] {
			continue
		}
		g := gammaRoute{obj: ObjectRef{"GRPCRoute", r.Namespace, r.Name}, hostnames: hostnameStrings(r.Spec.Hostnames), created: r.CreationTimestamp, parents: r.Spec.ParentRefs}
		for _, rule := range r.Spec.Rules {
			var gr gammaRule
			for _, m := range rule.Matches {
				gr.matches = append(gr.matches, grpcRouteMatch(m))
			}
			for _, f := range rule.Filters {
				gr.filters = append(gr.filters, gammaFilter{string(f.Type), f.RequestHeaderModifier, f.ResponseHeaderModifier})
			}
			for _, be := range rule.BackendRefs {
				gr.backends = append(gr.backends, gammaBackend{be.BackendRef, len(be.Filters)})
			}
			if rule.SessionPersistence != nil {
				gr.unsupported = append(gr.unsupported, "sessionPersistence")
			}
			g.rules = append(g.rules, gr)
		}
		out = append(out, g)
	}
	return out
}

func hostnameStrings(hs []gatewayv1.Hostname) []string {
	var out []string
	for _, h := range hs {
		out = append(out, string(h))
	}
	return out
}

func httpRouteMatch(m gatewayv1.HTTPRouteMatch) RouteMatch {
	rm := RouteMatch{PathType: PathPrefix, Path: "/"}
	if m.Path != nil {
		t, v := gatewayv1.PathMatchPathPrefix, "/"
		if m.Path.Type != nil {
			t = *m.Path.Type
		}
		if m.Path.Value != nil {
			v = *m.Path.Value
		}
		rm.PathType, rm.Path = PathMatchType(t), v
		if rm.PathType == PathPrefix && len(v) > 1 {
			// A trailing slash is ignored: /foo/ matches /foo too.
			rm.Path = strings.TrimRight(v, "/")
			if rm.Path == "" {
				rm.Path = "/"
			}
		}
	}
	if m.Method != nil {
		rm.Method = string(*m.Method)
	}
	for _, h := range m.Headers {
		rm.Headers = append(rm.Headers, ValueMatch{Name: string(h.Name), Value: h.Value,
			Regex: h.Type != nil && *h.Type == gatewayv1.HeaderMatchRegularExpression})
	}
	for _, q := range m.QueryParams {
		rm.QueryParams = append(rm.QueryParams, ValueMatch{Name: string(q.Name), Value: q.Value,
			Regex: q.Type != nil && *q.Type == gatewayv1.QueryParamMatchRegularExpression})
	}
	return rm
}

// grpcRouteMatch turns a gRPC method match into a path match on
// /<service>/<method>.
func grpcRouteMatch(m gatewayv1.GRPCRouteMatch) RouteMatch {
	rm := RouteMatch{PathType: PathPrefix, Path: "/"}
	if mm := m.Method; mm != nil {
		svc, method := deref(mm.Service), deref(mm.Method)
		regex := mm.Type != nil && *mm.Type == gatewayv1.GRPCMethodMatchRegularExpression
		switch {
		case regex:
			rm.PathType, rm.Path = PathRegex, "/"+or(svc, "[^/]+")+"/"+or(method, "[^/]+")
		case svc != "" && method != "":
			rm.PathType, rm.Path = PathExact, "/"+svc+"/"+method
		case svc != "":
			rm.Path = "/" + svc
		case method != "":
			rm.PathType, rm.Path = PathRegex, "/[^/]+/"+regexpQuote(method)
		}
	}
	for _, h := range m.Headers {
		rm.Headers = append(rm.Headers, ValueMatch{Name: string(h.Name), Value: h.Value,
			Regex: h.Type != nil && *h.Type == gatewayv1.GRPCHeaderMatchRegularExpression})
	}
	return rm
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// regexpQuote escapes a gRPC method name (letters, digits, _) for RE2; it
// holds no metacharacter, so this is only a guard.
func regexpQuote(s string) string {
	var sb strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`\.+*?()|[]{}^$`, r) {
			sb.WriteByte('\\')
		}
		sb.WriteRune(r)
	}
	return sb.String()
}

// gammaProblem records a route problem led by its Gateway API reason.
func (b *builder) gammaProblem(obj ObjectRef, field string, reason gatewayv1.RouteConditionReason, format string, args ...any) {
	b.problems.add(obj, field, "%s: %s", reason, fmt.Sprintf(format, args...))
}

// attachRoutes resolves the GAMMA routes onto their parent Services. It runs
// before attachSplits, which then leaves those Services alone.
func (b *builder) attachRoutes() {
	routes := b.gammaRoutes()
	// Gateway API's tie-break between routes: the oldest, then by namespace
	// and name.
	slices.SortStableFunc(routes, func(x, y gammaRoute) int {
		return cmp.Or(x.created.Compare(y.created.Time), cmp.Compare(x.obj.Namespace, y.obj.Namespace), cmp.Compare(x.obj.Name, y.obj.Name))
	})
	b.routeOwners = map[ServiceRef][]ObjectRef{}
	for _, r := range routes {
		if !slices.ContainsFunc(r.parents, state.IsServiceParent) {
			continue // a Gateway's route, not a mesh one
		}
		if len(r.hostnames) > 0 {
			b.problems.warn(r.obj, "spec.hostnames", "ignored: the parent Service names the host")
		}
		rules := b.routeRules(r)
		for i, p := range r.parents {
			if !state.IsServiceParent(p) {
				continue // a Gateway's, or another kind: not Weft's to program
			}
			field := fieldIndex("spec.parentRefs", i, "")
			ns := r.obj.Namespace
			if p.Namespace != nil && *p.Namespace != "" {
				ns = string(*p.Namespace)
			}
			ref := ServiceRef{Namespace: ns, Name: string(p.Name)}
			if ns != r.obj.Namespace {
				b.gammaProblem(r.obj, field, gatewayv1.RouteReasonUnsupportedValue,
					"a route in another namespace than its parent Service (a consumer route) is not supported yet; parent skipped")
				continue
			}
			svc := b.services[ref]
			if svc == nil {
				b.gammaProblem(r.obj, field, gatewayv1.RouteReasonNoMatchingParent, "%s; parent skipped", b.missingService(ref))
				continue
			}
			var port int32
			if p.Port != nil {
				port = int32(*p.Port)
				i := slices.IndexFunc(svc.Ports, func(sp ServicePort) bool { return sp.Port == port })
				if i < 0 {
					b.gammaProblem(r.obj, field, gatewayv1.RouteReasonNoMatchingParent, "service %s has no port %d; parent skipped", ref, port)
					continue
				}
				if !svc.Ports[i].Protocol.IsHTTP() {
					b.gammaProblem(r.obj, field, gatewayv1.RouteReasonNotAllowedByListeners,
						"port %d of service %s speaks %s, not HTTP; parent skipped", port, ref, svc.Ports[i].Protocol)
					continue
				}
			} else if !slices.ContainsFunc(svc.Ports, func(sp ServicePort) bool { return sp.Protocol.IsHTTP() }) {
				b.gammaProblem(r.obj, field, gatewayv1.RouteReasonNotAllowedByListeners, "service %s has no HTTP port; parent skipped", ref)
				continue
			}
			for _, rr := range rules {
				rr.Port = port
				svc.Routes = append(svc.Routes, rr)
			}
			// A route none of whose rules is carried out leaves the Service
			// (and its TrafficSplit) as without it.
			if len(rules) > 0 && !slices.Contains(b.routeOwners[ref], r.obj) {
				b.routeOwners[ref] = append(b.routeOwners[ref], r.obj)
			}
		}
	}
	for _, svc := range b.services {
		// Stable: equal matches keep the routes' order, then the rules'.
		slices.SortStableFunc(svc.Routes, func(x, y RouteRule) int { return compareMatches(x.Match, y.Match) })
	}
}

// compareMatches orders matches by Gateway API's precedence: an exact path,
// then the longest prefix, then a method, then more headers, then more query
// parameters. A regular expression (whose place Gateway API leaves to the
// implementation) comes after the prefixes but before the prefix "/", which
// would otherwise shadow it.
func compareMatches(x, y RouteMatch) int {
	rank := func(m RouteMatch) int {
		switch {
		case m.PathType == PathExact:
			return 0
		case m.PathType == PathPrefix && m.Path != "/":
			return 1
		case m.PathType == PathRegex:
			return 2
		}
		return 3
	}
	c := cmp.Compare(rank(x), rank(y))
	if c == 0 && x.PathType == PathPrefix {
		c = cmp.Compare(len(y.Path), len(x.Path))
	}
	return cmp.Or(c,
		cmp.Compare(boolRank(x.Method == ""), boolRank(y.Method == "")),
		cmp.Compare(len(y.Headers), len(x.Headers)),
		cmp.Compare(len(y.QueryParams), len(x.QueryParams)))
}

func boolRank(b bool) int {
	if b {
		return 1
	}
	return 0
}

// routeRules resolves a route's rules, one entry per match (a rule without
// matches matches every request), recording what it skips.
func (b *builder) routeRules(r gammaRoute) []RouteRule {
	var out []RouteRule
	for i, rule := range r.rules {
		base := RouteRule{Policy: r.obj, Rule: i}
		skip := false
		for _, f := range rule.unsupported {
			b.gammaProblem(r.obj, fieldIndex("spec.rules", i, f), gatewayv1.RouteReasonUnsupportedValue, "not supported; rule skipped")
			skip = true
		}
		for j, f := range rule.filters {
			field := fieldIndex(fmt.Sprintf("spec.rules[%d].filters", i), j, "")
			for _, m := range []*gatewayv1.HTTPHeaderFilter{f.request, f.respons} {
				if m == nil {
					continue
				}
				if err := modifierError(m); err != "" {
					b.gammaProblem(r.obj, field, gatewayv1.RouteReasonUnsupportedValue, "%s; rule skipped", err)
					skip = true
				}
			}
			switch {
			case f.typ == string(gatewayv1.HTTPRouteFilterRequestHeaderModifier) && f.request != nil:
				base.RequestHeaders = mergeModifier(base.RequestHeaders, f.request)
			case f.typ == string(gatewayv1.HTTPRouteFilterResponseHeaderModifier) && f.respons != nil:
				base.ResponseHeaders = mergeModifier(base.ResponseHeaders, f.respons)
			default:
				b.gammaProblem(r.obj, field, gatewayv1.RouteReasonUnsupportedValue, "filter %s is not supported; rule skipped", f.typ)
				skip = true
			}
		}
		if t := rule.timeouts; t != nil {
			var ok bool
			if base.Timeout, ok = b.routeTimeout(r.obj, i, "request", t.Request); !ok {
				skip = true
			}
			if base.BackendTimeout, ok = b.routeTimeout(r.obj, i, "backendRequest", t.BackendRequest); !ok {
				skip = true
			}
		}
		for j, m := range rule.matches {
			if err := matchError(m); err != "" {
				b.gammaProblem(r.obj, fieldIndex(fmt.Sprintf("spec.rules[%d].matches", i), j, ""), gatewayv1.RouteReasonUnsupportedValue,
					"%s; rule skipped", err)
				skip = true
			}
		}
		if skip {
			continue
		}
		base.Backends = b.routeBackends(r, i, rule.backends)
		matches := rule.matches
		if len(matches) == 0 {
			matches = []RouteMatch{{PathType: PathPrefix, Path: "/"}}
		}
		for _, m := range matches {
			rr := base
			rr.Match = m
			out = append(out, rr)
		}
	}
	return out
}

// matchError says why Envoy could not carry out a match, or "". Admission
// (the CRD's schema) refuses most of this; files are read unchecked.
func matchError(m RouteMatch) string {
	if m.PathType != PathRegex && (!strings.HasPrefix(m.Path, "/") || strings.ContainsAny(m.Path, "?#")) {
		return fmt.Sprintf("path %q does not start with / or holds ? or #", m.Path)
	}
	for _, v := range append(slices.Clone(m.Headers), m.QueryParams...) {
		if !validHeaderName(v.Name) {
			return fmt.Sprintf("name %q is not a header or query parameter name", v.Name)
		}
	}
	if m.PathType == PathRegex && rules.EnvoyRegex(m.Path) != nil {
		return fmt.Sprintf("path regular expression %q is not one Envoy takes", m.Path)
	}
	if m.PathType != PathRegex && m.PathType != PathExact && m.PathType != PathPrefix {
		return fmt.Sprintf("path match type %q is not supported", m.PathType)
	}
	for _, v := range append(slices.Clone(m.Headers), m.QueryParams...) {
		if v.Regex && rules.EnvoyRegex(v.Value) != nil {
			return fmt.Sprintf("regular expression %q is not one Envoy takes", v.Value)
		}
	}
	return ""
}

func (b *builder) routeTimeout(obj ObjectRef, rule int, name string, d *gatewayv1.Duration) (time.Duration, bool) {
	if d == nil {
		return 0, true
	}
	t, err := time.ParseDuration(string(*d))
	if err != nil || t < 0 {
		b.gammaProblem(obj, fmt.Sprintf("spec.rules[%d].timeouts.%s", rule, name), gatewayv1.RouteReasonUnsupportedValue,
			"%q is not a duration; rule skipped", *d)
		return 0, false
	}
	return t, true
}

// validHeaderName is Gateway API's HTTPHeaderName (RFC 7230's token).
func validHeaderName(n string) bool {
	if n == "" {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", r)) {
			return false
		}
	}
	return true
}

// modifierError says why Envoy would refuse a header modifier, or "": a
// name that is no header name, Host (Envoy will not rewrite it from a
// route), or a value with a line break or NUL.
func modifierError(f *gatewayv1.HTTPHeaderFilter) string {
	names := slices.Clone(f.Remove)
	for _, h := range append(slices.Clone(f.Set), f.Add...) {
		names = append(names, string(h.Name))
		if strings.ContainsAny(h.Value, "\r\n\x00") {
			return fmt.Sprintf("the value of header %q holds a line break or NUL", h.Name)
		}
	}
	for _, n := range names {
		if !validHeaderName(n) || strings.EqualFold(n, "host") {
			return fmt.Sprintf("header %q cannot be modified", n)
		}
	}
	return ""
}

func mergeModifier(m *HeaderModifier, f *gatewayv1.HTTPHeaderFilter) *HeaderModifier {
	if m == nil {
		m = &HeaderModifier{}
	}
	for _, h := range f.Set {
		m.Set = append(m.Set, Header{Name: string(h.Name), Value: h.Value})
	}
	for _, h := range f.Add {
		m.Add = append(m.Add, Header{Name: string(h.Name), Value: h.Value})
	}
	m.Remove = append(m.Remove, f.Remove...)
	return m
}

// routeBackends resolves a rule's backendRefs: mesh Services of the route's
// namespace, or of another whose ReferenceGrant allows it.
func (b *builder) routeBackends(r gammaRoute, rule int, refs []gammaBackend) []RouteBackend {
	var out []RouteBackend
	for j, be := range refs {
		field := fieldIndex(fmt.Sprintf("spec.rules[%d].backendRefs", rule), j, "")
		group, kind := "", "Service"
		if be.ref.Group != nil {
			group = string(*be.ref.Group)
		}
		if be.ref.Kind != nil {
			kind = string(*be.ref.Kind)
		}
		if group != "" || kind != "Service" {
			b.gammaProblem(r.obj, field, gatewayv1.RouteReasonInvalidKind, "backend kind %q of group %q is not a Service; backend skipped", kind, group)
			continue
		}
		if be.filters > 0 {
			b.gammaProblem(r.obj, field+".filters", gatewayv1.RouteReasonUnsupportedValue, "backend filters are not supported; backend skipped")
			continue
		}
		ref := ServiceRef{Namespace: r.obj.Namespace, Name: string(be.ref.Name)}
		if be.ref.Namespace != nil && *be.ref.Namespace != "" {
			ref.Namespace = string(*be.ref.Namespace)
		}
		if ref.Namespace != r.obj.Namespace && !b.referenceGranted(r.obj, ref) {
			b.gammaProblem(r.obj, field, gatewayv1.RouteReasonRefNotPermitted,
				"no ReferenceGrant in namespace %s lets %s reach service %s; backend skipped", ref.Namespace, r.obj, ref)
			continue
		}
		svc := b.services[ref]
		if svc == nil {
			b.gammaProblem(r.obj, field, gatewayv1.RouteReasonBackendNotFound, "%s; backend skipped", b.missingService(ref))
			continue
		}
		var port int32
		if be.ref.Port != nil {
			port = int32(*be.ref.Port)
			if !slices.ContainsFunc(svc.Ports, func(p ServicePort) bool { return p.Port == port }) {
				b.gammaProblem(r.obj, field, gatewayv1.RouteReasonBackendNotFound, "service %s has no port %d; backend skipped", ref, port)
				continue
			}
		}
		w := uint32(1000) // weight 1, in thousandths
		if be.ref.Weight != nil {
			// Gateway API caps weights at 1,000,000, so thousandths fit.
			w = uint32(min(max(*be.ref.Weight, 0), 1000000)) * 1000
		}
		out = append(out, RouteBackend{WeightedBackend: WeightedBackend{Service: ref, Weight: w}, Port: port})
	}
	return out
}

// referenceGranted reports whether a ReferenceGrant in the backend's
// namespace lets the route refer to the Service.
func (b *builder) referenceGranted(route ObjectRef, to ServiceRef) bool {
	for _, g := range b.state.ReferenceGrants {
		if g == nil || g.Namespace != to.Namespace {
			continue
		}
		from := slices.ContainsFunc(g.Spec.From, func(f gatewayv1.ReferenceGrantFrom) bool {
			return f.Group == gatewayv1.GroupName && string(f.Kind) == route.Kind && string(f.Namespace) == route.Namespace
		})
		target := slices.ContainsFunc(g.Spec.To, func(t gatewayv1.ReferenceGrantTo) bool {
			return t.Group == "" && t.Kind == "Service" && (t.Name == nil || string(*t.Name) == to.Name)
		})
		if from && target {
			return true
		}
	}
	return false
}
