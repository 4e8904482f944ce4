package catalog_test

import (
	"fmt"
	"testing"
)

func split(name, root string, backends ...string) string {
	s := fmt.Sprintf("apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata: {name: %s, namespace: b}\nspec:\n  service: %s\n  backends:", name, root)
	for i := 0; i+1 < len(backends); i += 2 {
		s += fmt.Sprintf("\n  - {service: %s, weight: %s}", backends[i], backends[i+1])
	}
	return s
}

func TestSplits(t *testing.T) {
	apps := app("a", "client", "[{name: http, port: 80}]") + "---" + app("b", "web", "[{name: http, port: 80}]") + "---" +
		app("b", "web-v1", "[{name: http, port: 80}]") + "---" + app("b", "web-v2", "[{name: http, port: 80}]") + "\n---\n" + permissive
	client := id("a", "client")
	for _, tc := range []struct {
		name     string
		split    string
		weights  map[string]uint32 // backend -> weight; nil: no split
		problems []string
	}{
		{"quantities in thousandths", split("s", "web", "web-v1", "500m", "web-v2", "500m"), map[string]uint32{"web-v1": 500, "web-v2": 500}, nil},
		{"integers are relative too", split("s", "web.b", "web-v1", "50", "web-v2", "50"), map[string]uint32{"web-v1": 50000, "web-v2": 50000}, nil},
		{"the full DNS name names the root", split("s", "web.b.svc.cluster.local", "web-v1", "1", "web-v2", "0"), map[string]uint32{"web-v1": 1000, "web-v2": 0}, nil},
		{"a missing backend is skipped, the rest splits", split("s", "web", "web-v1", "1", "web-v3", "1"), map[string]uint32{"web-v1": 1000},
			[]string{"TrafficSplit b/s: spec.backends[1].service: service b/web-v3 does not exist; backend skipped"}},
		{"a missing root skips the split", split("s", "nope", "web-v1", "1"), nil,
			[]string{"TrafficSplit b/s: spec.service: service b/nope does not exist"}},
		{"a negative weight is skipped", split("s", "web", "web-v1", "-1", "web-v2", "2"), map[string]uint32{"web-v2": 2000},
			[]string{`TrafficSplit b/s: spec.backends[0].weight: Invalid value: "-1": must not be negative; backend skipped`}},
		{"all zero weights skip the split", split("s", "web", "web-v1", "0"), nil,
			[]string{"TrafficSplit b/s: spec.backends: Invalid value: 1: at least one backend needs a positive weight; TrafficSplit skipped"}},
		{"zero weights left by a missing backend skip the split", split("s", "web", "web-v1", "0", "web-v3", "1"), nil,
			[]string{"spec.backends[1].service: service b/web-v3 does not exist", "every weight is zero"}},
		{"a root in another namespace is refused", split("s", "client.a", "web-v1", "1"), nil,
			[]string{`TrafficSplit b/s: spec.service: Invalid value: "client.a": must be a service of the TrafficSplit's own namespace "b"; TrafficSplit skipped`}},
		{"two splits of one root: the first by name wins", split("s1", "web", "web-v1", "1") + "\n---\n" + split("s2", "web", "web-v2", "1"),
			map[string]uint32{"web-v1": 1000}, []string{"TrafficSplit b/s2: spec.service: TrafficSplit b/s1 already splits service b/web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := build(t, apps, tc.split)
			o := outbound(m, client, svc("b", "web"))
			if o == nil {
				t.Fatalf("client does not reach b/web")
			}
			got := map[string]uint32{}
			for _, be := range o.Backends {
				got[be.Service.Name] = be.Weight
			}
			if tc.weights == nil && len(o.Backends) != 0 || fmt.Sprint(got) != fmt.Sprint(tc.weights) && tc.weights != nil {
				t.Fatalf("backends %v, want %v", got, tc.weights)
			}
			checkProblems(t, m, tc.problems)
		})
	}
	t.Run("with SMI, reaching a backend makes the root reachable", func(t *testing.T) {
		m := build(t, app("a", "client", "[{name: http, port: 80}]"),
			`{apiVersion: v1, kind: Service, metadata: {name: web, namespace: b}, spec: {ports: [{name: http, port: 80}]}}`,
			app("b", "web-v1", "[{name: http, port: 80}]"), split("s", "web", "web-v1", "1"),
			`{apiVersion: specs.smi-spec.io/v1alpha4, kind: TCPRoute, metadata: {name: all, namespace: b}, spec: {matches: {name: all}}}`,
			target("t", "web-v1", []string{"client"}, "[{kind: TCPRoute, name: all}]"))
		if got := fmt.Sprint(reached(m, client)); got != "[b/web b/web-v1]" {
			t.Fatalf("client reaches %s%s", got, problems(m))
		}
	})
}
