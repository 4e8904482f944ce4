package catalog_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// build reads YAML documents as the files source does and builds the model.
// Every namespace named joins mesh "osm" unless the documents hold its
// Namespace object, which then decides.
func build(t *testing.T, docs ...string) *catalog.Model {
	t.Helper()
	return catalog.Build(state(t, docs...), mesh.Defaults())
}

func state(t testing.TB, docs ...string) *k8s.State {
	t.Helper()
	objs, rejected := k8s.DecodeObjects([]byte(strings.Join(docs, "\n---\n")))
	if len(rejected) > 0 {
		t.Fatalf("fixture not read: %+v", rejected)
	}
	objs = append(objs, k8s.PodsFromWorkloads(objs)...)
	declared, named := map[string]bool{}, map[string]bool{}
	for _, o := range objs {
		if ns, ok := o.(*corev1.Namespace); ok {
			declared[ns.Name] = true
		}
		if m, ok := o.(metav1.Object); ok && m.GetNamespace() != "" {
			named[m.GetNamespace()] = true
		}
	}
	for ns := range named {
		if !declared[ns] {
			objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
				Labels: map[string]string{k8s.MonitoredByLabel: "osm"}}})
		}
	}
	return k8s.NewState(objs, k8s.DefaultOptions(), nil)
}

func id(ns, name string) identity.Identity {
	return identity.Identity{Namespace: ns, ServiceAccount: name}
}

func svc(ns, name string) catalog.ServiceRef { return catalog.ServiceRef{Namespace: ns, Name: name} }

// outbound returns the Outbound of from toward ref, or nil.
func outbound(m *catalog.Model, from identity.Identity, ref catalog.ServiceRef) *catalog.Outbound {
	v := m.Identity(from)
	if v == nil {
		return nil
	}
	for i := range v.Outbound {
		if v.Outbound[i].Service.ServiceRef == ref {
			return &v.Outbound[i]
		}
	}
	return nil
}

func reached(m *catalog.Model, from identity.Identity) []string {
	var out []string
	if v := m.Identity(from); v != nil {
		for _, o := range v.Outbound {
			out = append(out, o.Service.ServiceRef.String())
		}
	}
	return out
}

// inbound returns the InboundPort of the identity serving ref on port.
func inbound(m *catalog.Model, to identity.Identity, ref catalog.ServiceRef, port int32) *catalog.InboundPort {
	v := m.Identity(to)
	if v == nil {
		return nil
	}
	for i := range v.Inbound {
		if v.Inbound[i].Service == ref && v.Inbound[i].Port.Port == port {
			return &v.Inbound[i]
		}
	}
	return nil
}

func hasProblem(m *catalog.Model, kind, name, reason string) bool {
	for _, p := range m.Problems {
		if p.Object.Kind == kind && p.Object.Name == name && strings.Contains(p.String(), reason) {
			return true
		}
	}
	return false
}

func problems(m *catalog.Model) string {
	var b strings.Builder
	for _, p := range m.Problems {
		b.WriteString("\n  " + p.String())
	}
	return b.String()
}

type (
	modelT    = *catalog.Model
	identityT = identity.Identity
)

// checkProblems checks that the model's problems are exactly those containing
// each of want, one each.
func checkProblems(t *testing.T, m *catalog.Model, want []string) {
	t.Helper()
	if len(m.Problems) != len(want) {
		t.Fatalf("want %d problems, got:%s", len(want), problems(m))
	}
	for _, w := range want {
		found := false
		for _, p := range m.Problems {
			if strings.Contains(p.String(), w) {
				found = true
			}
		}
		if !found {
			t.Errorf("no problem says %q; got:%s", w, problems(m))
		}
	}
}
