package envoy

import (
	"net/netip"
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

// routeConfig returns (making it once) the route configuration called name.
func (g *gen) routeConfig(name string) *routev3.RouteConfiguration {
	rc := g.routes[name]
	if rc == nil {
		rc = &routev3.RouteConfiguration{Name: name}
		g.routes[name] = rc
		g.domains[name] = map[string]bool{}
	}
	return rc
}

// addVirtualHost adds vh to route configuration name with those of its
// domains that no other virtual host there has taken (Envoy rejects a domain
// twice in one configuration); a virtual host left without a domain is
// dropped. It reports whether vh was added.
func (g *gen) addVirtualHost(name string, vh *routev3.VirtualHost, domains []string) bool {
	rc := g.routeConfig(name)
	taken := g.domains[name]
	for _, d := range domains {
		if d != "" && !taken[d] {
			taken[d] = true
			vh.Domains = append(vh.Domains, d)
		}
	}
	if len(vh.Domains) == 0 {
		return false
	}
	rc.VirtualHosts = append(rc.VirtualHosts, vh)
	return true
}

// serviceDomains are the Host header values that name a Service port, as a
// client in namespace from writes them: the short name (same namespace only,
// where it resolves), name.namespace, name.namespace.svc and the FQDN, and the
// cluster IPs, each alone and with ":port".
func (g *gen) serviceDomains(svc *catalog.Service, port uint32, from string) []string {
	var names []string
	if svc.Namespace == from {
		names = append(names, svc.Name)
	}
	names = append(names,
		svc.Name+"."+svc.Namespace,
		svc.Name+"."+svc.Namespace+".svc",
		svc.FQDN(g.model.Settings.ClusterDomain))
	var out []string
	p := portString(int32(port))
	for _, n := range names {
		out = append(out, n, n+":"+p)
	}
	for _, ip := range svc.ClusterIPs {
		if a, err := netip.ParseAddr(ip); err == nil {
			out = append(out, hostPort(a, p)...)
		}
	}
	return out
}

func hostPort(a netip.Addr, port string) []string {
	if a.Is6() {
		return []string{"[" + a.String() + "]", "[" + a.String() + "]:" + port}
	}
	return []string{a.String(), a.String() + ":" + port}
}

// routeAction sends to one cluster or splits among weighted ones; with no
// target it answers 503 (a split whose backends all weigh zero).
func routeTo(targets []target, retry *catalog.RetryPolicy, streaming bool) *routev3.Route {
	r := &routev3.Route{Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}}}
	if len(targets) == 0 {
		r.Action = &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 503}}
		return r
	}
	a := &routev3.RouteAction{RetryPolicy: retryPolicy(retry)}
	if streaming {
		a.Timeout = durationpb.New(0)
	}
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

// inboundRoutes makes the route configuration of a local Service port: the
// UpstreamTrafficSetting's per-path rate limits first, then everything to the
// local app.
func (g *gen) inboundRoutes(svc catalog.ServiceRef, port catalog.ServicePort, cluster string, uts *catalog.UpstreamTrafficSetting) string {
	name := inboundRouteName(svc, port.Port)
	if g.routes[name] != nil {
		return name
	}
	streaming := port.Protocol == catalog.ProtocolGRPC
	vh := &routev3.VirtualHost{Name: "inbound|" + ClusterName(svc, port.Port)}
	if uts != nil {
		for _, hr := range uts.RouteRateLimits {
			if !validRegex(hr.PathRegex) {
				continue
			}
			rl := g.httpRateLimit(&hr.RateLimit, "inbound|"+ClusterName(svc, port.Port)+"|"+hr.PathRegex)
			if rl == nil {
				continue
			}
			r := routeTo([]target{{cluster: cluster}}, nil, streaming)
			r.Match = &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: regex(hr.PathRegex)}}
			r.TypedPerFilterConfig = map[string]*anypb.Any{httpLocalRateLimitFilter: g.any(rl)}
			vh.Routes = append(vh.Routes, r)
		}
	}
	vh.Routes = append(vh.Routes, routeTo([]target{{cluster: cluster}}, nil, streaming))
	g.addVirtualHost(name, vh, []string{"*"})
	return name
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
		rm.Headers = append(rm.Headers, headerRegex(strings.ToLower(h.Name), h.ValueRegex))
	}
	if rm.ValidateAll() != nil {
		return nil, false
	}
	return rm, true
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
