package catalog_test

import (
	"fmt"
	"hash/fnv"
	"slices"
	"testing"
)

// app is a Service and a Deployment running as a service account of its name.
// The Service has a cluster IP, as the API server would give it.
func app(ns, name, ports string) string {
	h := fnv.New32a()
	h.Write([]byte(ns + "/" + name))
	ip := fmt.Sprintf("10.96.%d.%d", h.Sum32()>>8&0xff, h.Sum32()&0xff)
	return fmt.Sprintf(`
apiVersion: v1
kind: ServiceAccount
metadata: {name: %[2]s, namespace: %[1]s}
---
apiVersion: v1
kind: Service
metadata: {name: %[2]s, namespace: %[1]s}
spec: {selector: {app: %[2]s}, clusterIP: %[4]s, ports: %[3]s}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: %[2]s, namespace: %[1]s}
spec:
  selector: {matchLabels: {app: %[2]s}}
  template:
    metadata: {labels: {app: %[2]s}}
    spec: {serviceAccountName: %[2]s, containers: [{name: app, image: app}]}
`, ns, name, ports, ip)
}

const permissive = `{apiVersion: config.openservicemesh.io/v1alpha2, kind: MeshConfig, metadata: {name: osm-mesh-config, namespace: osm-system},
  spec: {traffic: {enablePermissiveTrafficPolicyMode: true}}}`

const routes = `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: routes, namespace: b}
spec:
  matches:
  - {name: get-books, pathRegex: /books.*, methods: [GET]}
  - {name: anything, pathRegex: ".*", methods: ["*"], headers: [{x-user: ".+"}]}
  - {name: broken, pathRegex: "(unclosed"}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: db, namespace: b}
spec: {matches: {name: db, ports: [5432]}}
`

// broken is the problem the routes fixture always has.
const broken = `HTTPRouteGroup b/routes: spec.matches[2].pathRegex: Invalid value: "(unclosed": not a regular expression`

func target(name, dest string, sources []string, rules string) string {
	src := ""
	for _, s := range sources {
		src += fmt.Sprintf("\n  - {kind: ServiceAccount, name: %s, namespace: a}", s)
	}
	return fmt.Sprintf(`
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: %s, namespace: b}
spec:
  destination: {kind: ServiceAccount, name: %s, namespace: b}
  sources:%s
  rules: %s
`, name, dest, src, rules)
}

func TestAccess(t *testing.T) {
	apps := app("a", "client", "[{name: http, port: 80}]") + "---" + app("a", "other", "[{name: http, port: 80}]") + "---" +
		app("b", "server", "[{name: http, port: 80}, {name: tcp-db, port: 5432}]")
	client, other, server := id("a", "client"), id("a", "other"), id("b", "server")
	for _, tc := range []struct {
		name     string
		docs     []string
		check    func(t *testing.T, m modelT)
		problems []string
	}{{
		name: "permissive mode admits any mesh identity and reaches every service",
		docs: []string{apps, permissive},
		check: func(t *testing.T, m modelT) {
			if in := inbound(m, server, svc("b", "server"), 80); in == nil || !in.AllowAll {
				t.Fatalf("inbound: %+v", in)
			}
			if got := reached(m, other); len(got) != 3 {
				t.Fatalf("other reaches %v", got)
			}
		},
	}, {
		name: "without a TrafficTarget nothing is reachable",
		docs: []string{apps},
		check: func(t *testing.T, m modelT) {
			if got := reached(m, client); len(got) != 0 {
				t.Fatalf("client reaches %v", got)
			}
			if in := inbound(m, server, svc("b", "server"), 80); in == nil || in.AllowAll || len(in.Rules) != 0 {
				t.Fatalf("inbound: %+v", in)
			}
		},
	}, {
		name: "an HTTP rule admits its matches on HTTP ports only, and the broken regex is skipped",
		docs: []string{apps, routes, target("t", "server", []string{"client"}, "[{kind: HTTPRouteGroup, name: routes}]")},
		check: func(t *testing.T, m modelT) {
			in := inbound(m, server, svc("b", "server"), 80)
			if len(in.Rules) != 1 || len(in.Rules[0].HTTPMatches) != 2 || in.Rules[0].AllTraffic ||
				!slices.Equal(in.Rules[0].Sources, []identityT{client}) {
				t.Fatalf("http inbound: %+v", in)
			}
			if m := in.Rules[0].HTTPMatches[1]; m.Methods != nil || len(m.Headers) != 1 || m.Headers[0].Name != "x-user" {
				t.Fatalf("the * method and header: %+v", m)
			}
			if db := inbound(m, server, svc("b", "server"), 5432); len(db.Rules) != 0 {
				t.Fatalf("tcp inbound: %+v", db)
			}
			if got := reached(m, client); !slices.Equal(got, []string{"b/server"}) {
				t.Fatalf("client reaches %v", got)
			}
			if got := reached(m, other); len(got) != 0 {
				t.Fatalf("other reaches %v", got)
			}
		},
		problems: []string{broken},
	}, {
		name: "named matches narrow the route group",
		docs: []string{apps, routes, target("t", "server", []string{"client"}, "[{kind: HTTPRouteGroup, name: routes, matches: [get-books, missing]}]")},
		check: func(t *testing.T, m modelT) {
			in := inbound(m, server, svc("b", "server"), 80)
			if len(in.Rules) != 1 || len(in.Rules[0].HTTPMatches) != 1 || in.Rules[0].HTTPMatches[0].Name != "get-books" {
				t.Fatalf("inbound: %+v", in)
			}
		},
		problems: []string{broken, `TrafficTarget b/t: spec.rules[0].matches: HTTPRouteGroup b/routes has no valid match "missing"`},
	}, {
		name: "a TCP rule admits everything on its ports",
		docs: []string{apps, routes, target("t", "server", []string{"client"}, "[{kind: TCPRoute, name: db}]")},
		check: func(t *testing.T, m modelT) {
			if db := inbound(m, server, svc("b", "server"), 5432); len(db.Rules) != 1 || !db.Rules[0].AllTraffic {
				t.Fatalf("tcp inbound: %+v", db)
			}
			if web := inbound(m, server, svc("b", "server"), 80); len(web.Rules) != 0 {
				t.Fatalf("http inbound: %+v", web)
			}
		},
		problems: []string{broken},
	}, {
		name: "several TrafficTargets add up",
		docs: []string{apps, routes, target("t1", "server", []string{"client"}, "[{kind: TCPRoute, name: db}]"),
			target("t2", "server", []string{"other"}, "[{kind: HTTPRouteGroup, name: routes}]")},
		check: func(t *testing.T, m modelT) {
			if len(reached(m, client)) != 1 || len(reached(m, other)) != 1 {
				t.Fatalf("client reaches %v, other %v", reached(m, client), reached(m, other))
			}
		},
		problems: []string{broken},
	}, {
		name: "a TrafficTarget naming a missing service account is skipped, the rest builds",
		docs: []string{apps, routes, target("ghost", "nobody", []string{"client"}, "[{kind: TCPRoute, name: db}]"),
			target("t", "server", []string{"client", "ghost"}, "[{kind: TCPRoute, name: db}]")},
		check: func(t *testing.T, m modelT) {
			if db := inbound(m, server, svc("b", "server"), 5432); len(db.Rules) != 1 || !slices.Equal(db.Rules[0].Sources, []identityT{client}) {
				t.Fatalf("inbound: %+v", db)
			}
		},
		problems: []string{broken, "TrafficTarget b/ghost: spec.destination.name: service account b/nobody does not exist",
			"TrafficTarget b/t: spec.sources[1].name: service account a/ghost does not exist"},
	}, {
		name: "a regular expression too large for Envoy skips its match, with a problem naming the field",
		docs: []string{apps, `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: big, namespace: b}
spec:
  matches:
  - {name: fine, pathRegex: /books}
  - {name: long-path, pathRegex: "/[a-z]{1,500}/books"}
  - {name: long-header, pathRegex: /books, headers: [{x-id: "[0-9]{1,200}"}, {x-a: "(bad"}]}
`, target("t", "server", []string{"client"}, "[{kind: HTTPRouteGroup, name: big}]")},
		check: func(t *testing.T, m modelT) {
			in := inbound(m, server, svc("b", "server"), 80)
			if len(in.Rules) != 1 || len(in.Rules[0].HTTPMatches) != 1 || in.Rules[0].HTTPMatches[0].Name != "fine" {
				t.Fatalf("inbound: %+v", in)
			}
		},
		problems: []string{
			`HTTPRouteGroup b/big: spec.matches[1].pathRegex: Invalid value: "/[a-z]{1,500}/books": regular expression is too large for Envoy (program size 1010, limit 100); match skipped`,
			// Headers are checked in name order, so the problems always come in this order.
			`HTTPRouteGroup b/big: spec.matches[2].headers[x-a]: Invalid value: "(bad": not a regular expression: error parsing regexp: missing closing ): ` + "`(bad`" + `; match skipped`,
			`HTTPRouteGroup b/big: spec.matches[2].headers[x-id]: Invalid value: "[0-9]{1,200}": regular expression is too large for Envoy (program size 403, limit 100); match skipped`,
		},
	}, {
		name: "a header regular expression too large for Envoy skips its match",
		docs: []string{apps, `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: big, namespace: b}
spec:
  matches:
  - {name: long-header, pathRegex: /books, headers: [{x-id: "[0-9]{1,200}"}]}
`, target("t", "server", []string{"client"}, "[{kind: HTTPRouteGroup, name: big}]")},
		check: func(t *testing.T, m modelT) {
			if got := reached(m, client); len(got) != 0 {
				t.Fatalf("client reaches %v", got)
			}
		},
		problems: []string{
			`HTTPRouteGroup b/big: spec.matches[0].headers[x-id]: Invalid value: "[0-9]{1,200}": regular expression is too large for Envoy (program size 403, limit 100); match skipped`,
			"TrafficTarget b/t: spec.rules: no valid rule",
		},
	}, {
		name: "a rule naming a missing route allows nothing",
		docs: []string{apps, target("t", "server", []string{"client"}, "[{kind: HTTPRouteGroup, name: nope}]")},
		check: func(t *testing.T, m modelT) {
			if got := reached(m, client); len(got) != 0 {
				t.Fatalf("client reaches %v", got)
			}
		},
		problems: []string{"HTTPRouteGroup b/nope does not exist", "no valid rule"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			m := build(t, tc.docs...)
			tc.check(t, m)
			checkProblems(t, m, tc.problems)
		})
	}
}
