package envoy

import (
	"strings"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	matcherv3 "github.com/envoyproxy/go-control-plane/envoy/type/matcher/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// routes is the routes pass: the planned route configurations (outbound by
// port, egress by port, inbound by local Service port), each virtual host
// with the domains it took.
func (g *gen) routes() []*routev3.RouteConfiguration {
	out := make([]*routev3.RouteConfiguration, 0, len(g.plan.routes))
	for _, rc := range g.plan.routes {
		c := &routev3.RouteConfiguration{Name: rc.name}
		for _, vh := range rc.vhosts {
			v := &routev3.VirtualHost{Name: vh.name, Domains: vh.domains}
			for _, r := range vh.routes {
				v.Routes = append(v.Routes, g.route(r))
			}
			c.VirtualHosts = append(c.VirtualHosts, v)
		}
		out = append(out, c)
	}
	return out
}

func (g *gen) route(r route) *routev3.Route {
	rt := routeTo(r.targets, r.retry)
	if a := rt.GetRoute(); a != nil {
		// No deadline, as OSM: Envoy's default of 15 s cuts downloads, streams
		// and WebSockets, and caps the retries' time.
		a.Timeout = durationpb.New(0)
	}
	if r.match != nil {
		rt.Match = r.match
	}
	if r.gamma != nil {
		applyGamma(rt, r.gamma)
	}
	if r.rateLimit != nil {
		rt.TypedPerFilterConfig = map[string]*anypb.Any{httpLocalRateLimitFilter: g.any(r.rateLimit)}
	}
	return rt
}

// routeTo sends to one cluster or splits among weighted ones; with no target
// it answers 503 (a split whose backends all weigh zero).
func routeTo(targets []target, retry *catalog.RetryPolicy) *routev3.Route {
	r := &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}}
	if len(targets) == 0 {
		r.Action = &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 503}}
		return r
	}
	a := &routev3.RouteAction{RetryPolicy: retryPolicy(retry)}
	if len(targets) == 1 {
		a.ClusterSpecifier = &routev3.RouteAction_Cluster{Cluster: targets[0].cluster}
	} else {
		wc := &routev3.WeightedCluster{}
		for _, t := range targets {
			wc.Clusters = append(wc.Clusters, &routev3.WeightedCluster_ClusterWeight{Name: t.cluster, Weight: wrapperspb.UInt32(t.weight)})
		}
		a.ClusterSpecifier = &routev3.RouteAction_WeightedClusters{WeightedClusters: wc}
	}
	r.Action = &routev3.Route_Route{Route: a}
	return r
}

func retryPolicy(r *catalog.RetryPolicy) *routev3.RetryPolicy {
	if r == nil {
		return nil
	}
	rp := &routev3.RetryPolicy{RetryOn: r.RetryOn}
	if r.NumRetries != nil {
		rp.NumRetries = wrapperspb.UInt32(*r.NumRetries)
	}
	if r.PerTryTimeout > 0 {
		rp.PerTryTimeout = durationpb.New(r.PerTryTimeout)
	}
	if r.BackoffBaseInterval >= time.Millisecond {
		rp.RetryBackOff = &routev3.RetryPolicy_RetryBackOff{BaseInterval: durationpb.New(r.BackoffBaseInterval)}
	}
	return rp
}

// httpMatchRoute turns an HTTPRouteGroup match into a route match: the path
// as a regular expression, the methods, and the headers. ok is false when a
// regular expression or header name is unusable (the match is then left out,
// which admits less, never more).
func httpMatchRoute(m catalog.HTTPMatch) (rm *routev3.RouteMatch, ok bool) {
	rm = &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}
	if m.PathRegex != "" {
		if !validRegex(m.PathRegex) {
			return nil, false
		}
		rm.PathSpecifier = &routev3.RouteMatch_SafeRegex{SafeRegex: regex(m.PathRegex)}
	}
	if len(m.Methods) > 0 {
		rm.Headers = append(rm.Headers, headerRegex(":method", rules.MethodsRegex(m.Methods)))
	}
	for _, h := range m.Headers {
		if !validRegex(h.ValueRegex) {
			return nil, false
		}
		rm.Headers = append(rm.Headers, headerRegex(headerName(h.Name), h.ValueRegex))
	}
	if rm.ValidateAll() != nil {
		return nil, false
	}
	return rm, true
}

// headerName is the name Envoy knows a request header by: lower case, and
// Host as :authority (Envoy keeps HTTP/1's Host there too, so a matcher on
// "host" never matches), as OSM.
func headerName(name string) string {
	if n := strings.ToLower(name); n != "host" {
		return n
	}
	return ":authority"
}

func headerRegex(name, re string) *routev3.HeaderMatcher {
	return &routev3.HeaderMatcher{Name: name, HeaderMatchSpecifier: &routev3.HeaderMatcher_StringMatch{
		StringMatch: &matcherv3.StringMatcher{MatchPattern: &matcherv3.StringMatcher_SafeRegex{SafeRegex: regex(re)}},
	}}
}

func regex(re string) *matcherv3.RegexMatcher { return &matcherv3.RegexMatcher{Regex: re} }

// validRegex reports whether Envoy takes re, by the rule admission and the
// catalog apply (the catalog has already skipped what fails it; this keeps the
// generator safe on its own).
func validRegex(re string) bool { return re != "" && rules.EnvoyRegex(re) == nil }
