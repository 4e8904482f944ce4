package envoy

import (
	"slices"
	"time"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/weft-mesh/weft/catalog"
)

// GAMMA routes (catalog.RouteRule) on a Service port: each rule's match
// becomes a route, in the catalog's order of precedence, to the rule's
// backends by weight; a request no rule matches is answered 404 (Envoy's
// answer when no route matches), and a rule without a backend 500.

// gammaRules are the route entries that apply to a Service port.
func gammaRules(svc *catalog.Service, port catalog.ServicePort) []catalog.RouteRule {
	if !port.Protocol.IsHTTP() {
		return nil
	}
	var out []catalog.RouteRule
	for _, r := range svc.Routes {
		if r.Port == 0 || r.Port == port.Port {
			out = append(out, r)
		}
	}
	return out
}

// gammaTargets are a rule's backend Service ports, a backend named twice
// counted once with the sum; backends weighing nothing are left out, as a
// split's.
func (g *gen) gammaTargets(r catalog.RouteRule, port catalog.ServicePort) []backendTarget {
	var ts []backendTarget
	for _, be := range r.Backends {
		svc := g.model.Service(be.Service)
		if svc == nil || be.Weight == 0 {
			continue
		}
		bp, ok := svc.SplitBackendPort(port)
		if be.Port != 0 {
			i := slices.IndexFunc(svc.Ports, func(p catalog.ServicePort) bool { return p.Port == be.Port })
			if ok = i >= 0; ok {
				bp = svc.Ports[i]
			}
		}
		if !ok {
			continue
		}
		if i := slices.IndexFunc(ts, func(t backendTarget) bool { return t.svc == svc && t.port == bp }); i >= 0 {
			ts[i].weight = addWeights(ts[i].weight, be.Weight)
			continue
		}
		ts = append(ts, backendTarget{svc: svc, port: bp, weight: be.Weight})
	}
	return ts
}

// gammaVirtualHost routes a Service port by its GAMMA rules.
func (g *gen) gammaVirtualHost(name string, o catalog.Outbound, port catalog.ServicePort, rules []catalog.RouteRule) *vhost {
	vh := &vhost{name: name}
	for i := range rules {
		r := &rules[i]
		var ts []target
		for _, b := range g.gammaTargets(*r, port) {
			ts = append(ts, target{cluster: g.serviceCluster(b.svc, b.port), weight: b.weight})
		}
		vh.routes = append(vh.routes, route{match: gammaMatch(r.Match, false), targets: scaleWeights(ts), retry: o.Retry, gamma: r})
	}
	return vh
}

// gammaMatch is a rule's match in Envoy's terms. gRPC takes no
// path_separated_prefix, and its calls carry no query: for it, a prefix
// matches the segment's children only, and query matches are left to the
// caller to drop.
func gammaMatch(m catalog.RouteMatch, grpc bool) *routev3.RouteMatch {
	rm := &routev3.RouteMatch{}
	switch {
	case m.PathType == catalog.PathExact:
		rm.PathSpecifier = &routev3.RouteMatch_Path{Path: m.Path}
	case m.PathType == catalog.PathRegex:
		rm.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: regex(m.Path)}
	case m.Path == "" || m.Path == "/":
		rm.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: "/"}
	case grpc:
		rm.PathSpecifier = &routev3.RouteMatch_Prefix{Prefix: m.Path + "/"}
	default:
		rm.PathSpecifier = &routev3.RouteMatch_PathSeparatedPrefix{PathSeparatedPrefix: m.Path}
	}
	if m.Method != "" {
		rm.Headers = append(rm.Headers, headerExact(":method", m.Method))
	}
	for _, h := range m.Headers {
		if h.Regex {
			rm.Headers = append(rm.Headers, headerRegex(headerName(h.Name), h.Value))
		} else {
			rm.Headers = append(rm.Headers, headerExact(headerName(h.Name), h.Value))
		}
	}
	for _, q := range m.QueryParams {
		rm.QueryParameters = append(rm.QueryParameters, &routev3.QueryParameterMatcher{Name: q.Name,
			QueryParameterMatchSpecifier: &routev3.QueryParameterMatcher_StringMatch{StringMatch: stringMatch(q.Value, q.Regex)}})
	}
	return rm
}

func headerExact(name, value string) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{StringMatch: stringMatch(value, false)}}
}

func stringMatch(value string, re bool) *matcherv3.StringMatcher {
	if re {
		return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: regex(value)}}
	}
	return &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_Exact{Exact: value}}
}

// applyGamma sets what a rule adds to its route: 500 without a backend (as
// Gateway API asks), the timeouts and the header modifiers.
func applyGamma(rt *routev3.Route, r *catalog.RouteRule) {
	if rt.GetDirectResponse() != nil {
		rt.Action = &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 500}}
	}
	if a := rt.GetRoute(); a != nil {
		// request bounds the whole exchange; backendRequest each try, which
		// without retries is the whole exchange too (with retries, it must
		// not cut them short).
		t := r.Timeout
		if rp := a.RetryPolicy; rp != nil {
			if rp.PerTryTimeout == nil && r.BackendTimeout > 0 {
				rp.PerTryTimeout = durationpb.New(r.BackendTimeout)
			}
		} else {
			t = firstSet(r.Timeout, r.BackendTimeout)
		}
		if t > 0 {
			a.Timeout = durationpb.New(t)
		}
	}
	if m := r.RequestHeaders; m != nil {
		rt.RequestHeadersToAdd = headerOptions(m)
		rt.RequestHeadersToRemove = m.Remove
	}
	if m := r.ResponseHeaders; m != nil {
		rt.ResponseHeadersToAdd = headerOptions(m)
		rt.ResponseHeadersToRemove = m.Remove
	}
}

func firstSet(ds ...time.Duration) time.Duration {
	for _, d := range ds {
		if d > 0 {
			return d
		}
	}
	return 0
}

// headerOptions are a modifier's set (replacing) and add (appending) headers.
func headerOptions(m *catalog.HeaderModifier) []*corev3.HeaderValueOption {
	var out []*corev3.HeaderValueOption
	for _, h := range m.Set {
		out = append(out, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: h.Name, Value: h.Value},
			AppendAction: corev3.HeaderValueOption_OVERWRITE_IF_EXISTS_OR_ADD})
	}
	for _, h := range m.Add {
		out = append(out, &corev3.HeaderValueOption{Header: &corev3.HeaderValue{Key: h.Name, Value: h.Value},
			AppendAction: corev3.HeaderValueOption_APPEND_IF_EXISTS_OR_ADD})
	}
	return out
}
