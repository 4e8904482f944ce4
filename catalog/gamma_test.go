package catalog_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/catalog"
)

// httpRoute is an HTTPRoute in namespace b whose parent is Service web.
func httpRoute(name, rules string) string {
	return fmt.Sprintf(`apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {name: %s, namespace: b}
spec:
  parentRefs: [{group: "", kind: Service, name: web, port: 80}]
  rules:
%s`, name, rules)
}

const grantFromB = `apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: from-b, namespace: c}
spec:
  from: [{group: gateway.networking.k8s.io, kind: HTTPRoute, namespace: b}]
  to: [{group: "", kind: Service}]`

func TestGAMMARoutes(t *testing.T) {
	apps := app("a", "client", "[{name: http, port: 80}]") + "---" + app("b", "web", "[{name: http, port: 80}, {name: tcp-db, port: 5432}]") + "---" +
		app("b", "web-v1", "[{name: http, port: 80}]") + "---" + app("b", "web-v2", "[{name: http, port: 80}]") + "---" +
		app("c", "far", "[{name: http, port: 80}]") + "\n---\n" + permissive
	client := id("a", "client")
	type backend struct {
		name   string
		weight uint32
	}
	for _, tc := range []struct {
		name     string
		docs     []string
		backends [][]backend // per route rule entry, in order
		problems []string
	}{
		{"weights in thousandths, as a split's",
			[]string{httpRoute("r", "  - backendRefs: [{name: web-v1, port: 80, weight: 50}, {name: web-v2, port: 80, weight: 50}]")},
			[][]backend{{{"web-v1", 50000}, {"web-v2", 50000}}}, nil},
		{"a missing backend is BackendNotFound, the rest stays",
			[]string{httpRoute("r", "  - backendRefs: [{name: web-v1, port: 80}, {name: nope, port: 80}]")},
			[][]backend{{{"web-v1", 1000}}},
			[]string{"HTTPRoute b/r: spec.rules[0].backendRefs[1]: BackendNotFound: service b/nope does not exist; backend skipped"}},
		{"another namespace's backend needs a ReferenceGrant",
			[]string{httpRoute("r", "  - backendRefs: [{name: far, namespace: c, port: 80}]")},
			[][]backend{nil},
			[]string{"spec.rules[0].backendRefs[0]: RefNotPermitted: no ReferenceGrant in namespace c"}},
		{"a ReferenceGrant lets it",
			[]string{httpRoute("r", "  - backendRefs: [{name: far, namespace: c, port: 80}]"), grantFromB},
			[][]backend{{{"far", 1000}}}, nil},
		{"a backend of another kind is InvalidKind",
			[]string{httpRoute("r", "  - backendRefs: [{group: example.com, kind: Bucket, name: web-v1, port: 80}]")},
			[][]backend{nil},
			[]string{`spec.rules[0].backendRefs[0]: InvalidKind: backend kind "Bucket"`}},
		{"a missing parent is NoMatchingParent",
			[]string{strings.Replace(httpRoute("r", "  - backendRefs: [{name: web-v1, port: 80}]"), "name: web,", "name: gone,", 1)},
			nil, []string{"spec.parentRefs[0]: NoMatchingParent: service b/gone does not exist"}},
		{"a TCP port as parent is NotAllowedByListeners",
			[]string{strings.Replace(httpRoute("r", "  - backendRefs: [{name: web-v1, port: 80}]"), "port: 80}]\n  rules", "port: 5432}]\n  rules", 1)},
			nil, []string{"spec.parentRefs[0]: NotAllowedByListeners: port 5432 of service b/web speaks tcp"}},
		{"an unsupported filter skips its rule",
			[]string{httpRoute("r", "  - filters: [{type: RequestRedirect, requestRedirect: {statusCode: 301}}]\n    backendRefs: [{name: web-v1, port: 80}]\n  - backendRefs: [{name: web-v2, port: 80}]")},
			[][]backend{{{"web-v2", 1000}}},
			[]string{"spec.rules[0].filters[0]: UnsupportedValue: filter RequestRedirect is not supported; rule skipped"}},
		{"a modifier of Host skips its rule (Envoy refuses it)",
			[]string{httpRoute("r", "  - filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: Host, value: x}]}}]\n    backendRefs: [{name: web-v1, port: 80}]")},
			nil, []string{`spec.rules[0].filters[0]: UnsupportedValue: header "Host" cannot be modified; rule skipped`}},
		{"a path not starting with / skips its rule (files are not admitted)",
			[]string{httpRoute("r", "  - matches: [{path: {type: Exact, value: nope}}]\n    backendRefs: [{name: web-v1, port: 80}]")},
			nil, []string{`spec.rules[0].matches[0]: UnsupportedValue: path "nope" does not start with /`}},
		{"the route wins over a TrafficSplit, reported on both",
			[]string{httpRoute("r", "  - backendRefs: [{name: web-v2, port: 80}]"), split("s", "web", "web-v1", "1")},
			[][]backend{{{"web-v2", 1000}}},
			[]string{"TrafficSplit b/s: spec.service: service b/web has GAMMA routes (HTTPRoute b/r), which take precedence; TrafficSplit skipped",
				"HTTPRoute b/r: spec.parentRefs: TrafficSplit b/s also splits service b/web; this route takes precedence"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := build(t, append([]string{apps}, tc.docs...)...)
			web := m.Service(svc("b", "web"))
			var got [][]backend
			for _, r := range web.Routes {
				var bs []backend
				for _, be := range r.Backends {
					bs = append(bs, backend{be.Service.Name, be.Weight})
				}
				got = append(got, bs)
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.backends) {
				t.Errorf("route backends %v, want %v", got, tc.backends)
			}
			if web.Split != nil {
				t.Errorf("the TrafficSplit still splits b/web")
			}
			if len(tc.backends) > 0 && outbound(m, client, svc("b", "web")) == nil {
				t.Errorf("client does not reach b/web")
			}
			checkProblems(t, m, tc.problems)
		})
	}
}

func TestGAMMAMatchesAndFilters(t *testing.T) {
	apps := app("b", "web", "[{name: http, port: 80}]") + "---" + app("b", "web-v1", "[{name: http, port: 80}]") + "\n---\n" + permissive
	route := httpRoute("r", `  - matches:
    - path: {type: PathPrefix, value: /api/}
    - path: {type: Exact, value: /login}
      method: POST
      headers: [{name: x-user, value: "a.*", type: RegularExpression}]
      queryParams: [{name: debug, value: "1"}]
    filters:
    - type: RequestHeaderModifier
      requestHeaderModifier: {set: [{name: x-a, value: "1"}], add: [{name: x-b, value: "2"}], remove: [x-c]}
    - type: ResponseHeaderModifier
      responseHeaderModifier: {remove: [server]}
    timeouts: {request: 10s, backendRequest: 2s}
    backendRefs: [{name: web-v1, port: 80}]`)
	m := build(t, apps, route)
	checkProblems(t, m, nil)
	rs := m.Service(svc("b", "web")).Routes
	if len(rs) != 2 {
		t.Fatalf("%d route entries, want 2", len(rs))
	}
	// The exact path comes first, then the prefix, its trailing slash dropped.
	want := []catalog.RouteMatch{
		{PathType: catalog.PathExact, Path: "/login", Method: "POST",
			Headers: []catalog.ValueMatch{{Name: "x-user", Value: "a.*", Regex: true}}, QueryParams: []catalog.ValueMatch{{Name: "debug", Value: "1"}}},
		{PathType: catalog.PathPrefix, Path: "/api"},
	}
	for i, r := range rs {
		if fmt.Sprint(r.Match) != fmt.Sprint(want[i]) {
			t.Errorf("match %d: %+v, want %+v", i, r.Match, want[i])
		}
		if r.Timeout != 10*time.Second || r.BackendTimeout != 2*time.Second {
			t.Errorf("timeouts %v %v", r.Timeout, r.BackendTimeout)
		}
		if fmt.Sprint(r.RequestHeaders) != "&{[{x-a 1}] [{x-b 2}] [x-c]}" || fmt.Sprint(r.ResponseHeaders) != "&{[] [] [server]}" {
			t.Errorf("header modifiers %v %v", r.RequestHeaders, r.ResponseHeaders)
		}
	}
}

func TestGAMMAGRPCRouteMethodMatches(t *testing.T) {
	apps := app("b", "web", "[{name: grpc, port: 80}]") + "---" + app("b", "web-v1", "[{name: grpc, port: 80}]") + "\n---\n" + permissive
	route := `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: g, namespace: b}
spec:
  parentRefs: [{group: "", kind: Service, name: web}]
  rules:
  - matches:
    - method: {service: pkg.Svc, method: Get}
    - method: {service: pkg.Svc}
    - method: {method: Get}
    - method: {type: RegularExpression, service: "pkg\\..*"}
      headers: [{name: x-a, value: b}]
    backendRefs: [{name: web-v1, port: 80}]`
	m := build(t, apps, route)
	checkProblems(t, m, nil)
	var got []string
	for _, r := range m.Service(svc("b", "web")).Routes {
		got = append(got, fmt.Sprintf("%s %s %d", r.Match.PathType, r.Match.Path, len(r.Match.Headers)))
	}
	want := []string{"Exact /pkg.Svc/Get 0", "PathPrefix /pkg.Svc 0", `RegularExpression /pkg\..*/[^/]+ 1`, "RegularExpression /[^/]+/Get 0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("matches\n%q\nwant\n%q", got, want)
	}
}

func TestGAMMAPrecedenceKeepsTheCatchAllLast(t *testing.T) {
	apps := app("b", "web", "[{name: http, port: 80}]") + "---" + app("b", "web-v1", "[{name: http, port: 80}]") + "\n---\n" + permissive
	route := httpRoute("r", `  - backendRefs: [{name: web-v1, port: 80}]
  - matches: [{path: {type: RegularExpression, value: "/v[0-9]+/.*"}}]
    backendRefs: [{name: web-v1, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /a}}, {path: {type: PathPrefix, value: /a/b}, headers: [{name: x, value: "1"}]}]
    backendRefs: [{name: web-v1, port: 80}]
  - matches: [{path: {type: PathPrefix, value: /a/b}}, {path: {type: Exact, value: /z}}]
    backendRefs: [{name: web-v1, port: 80}]`)
	m := build(t, apps, route)
	checkProblems(t, m, nil)
	var got []string
	for _, r := range m.Service(svc("b", "web")).Routes {
		got = append(got, fmt.Sprintf("%d:%s:%d", r.Rule, r.Match.Path, len(r.Match.Headers)))
	}
	want := []string{"3:/z:0", "2:/a/b:1", "3:/a/b:0", "2:/a:0", "1:/v[0-9]+/.*:0", "0:/:0"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("order %v, want %v", got, want)
	}
}
