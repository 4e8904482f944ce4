package k8s_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/internal/testenv"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s"
)

// SMI policies have no status: the writer reports their skipped parts as
// events on a real API server, once per distinct set of problems.
func TestPolicyStatusWriterRecordsEventsOnSkippedSMIPolicies(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	c := env.Client
	ns := fmt.Sprintf("smi-%06d", rand.IntN(1000000))
	meta := metav1.ObjectMeta{Namespace: ns, Name: "p"}
	tt := &smiaccess.TrafficTarget{ObjectMeta: meta, Spec: smiaccess.TrafficTargetSpec{
		Destination: smiaccess.IdentityBindingSubject{Kind: "ServiceAccount", Name: "server", Namespace: ns},
		Sources:     []smiaccess.IdentityBindingSubject{{Kind: "ServiceAccount", Name: "client", Namespace: ns}},
		Rules:       []smiaccess.TrafficTargetRule{{Kind: "HTTPRouteGroup", Name: "p"}}}}
	group := &smispecs.HTTPRouteGroup{ObjectMeta: meta, Spec: smispecs.HTTPRouteGroupSpec{
		Matches: []smispecs.HTTPMatch{{Name: "books", PathRegex: "/books"}}}}
	tcp := &smispecs.TCPRoute{ObjectMeta: meta, Spec: smispecs.TCPRouteSpec{Matches: smispecs.TCPMatch{Name: "db", Ports: []int{5432}}}}
	split := &splitv1alpha2.TrafficSplit{ObjectMeta: meta, Spec: splitv1alpha2.TrafficSplitSpec{Service: "server",
		Backends: []splitv1alpha2.TrafficSplitBackend{{Service: "server-v1", Weight: resource.MustParse("1")}}}}
	mc := &configv1alpha2.MeshConfig{ObjectMeta: meta}
	for _, o := range []client.Object{&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, tt, group, tcp, split, mc} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("creating %T: %v", o, err)
		}
	}
	// The objects as the API server returns them (with their UIDs), as a
	// source would announce them.
	s := &k8s.State{TrafficTargets: []*smiaccess.TrafficTarget{tt}, HTTPRouteGroups: []*smispecs.HTTPRouteGroup{group},
		TCPRoutes: []*smispecs.TCPRoute{tcp}, TrafficSplits: []*splitv1alpha2.TrafficSplit{split}, MeshConfig: mc}
	// The MeshConfig has no status either: its refused and unhonoured
	// settings are events too.
	smiKinds := []string{"HTTPRouteGroup", "MeshConfig", "TCPRoute", "TrafficSplit", "TrafficTarget"}

	// events returns "<kind> <type> <reason> <count>: <message>" for each event
	// in the namespace, sorted.
	events := func(t *testing.T) []string {
		t.Helper()
		var list corev1.EventList
		if err := c.List(ctx, &list, client.InNamespace(ns)); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range list.Items {
			if e.InvolvedObject.Name != "p" {
				t.Errorf("event on %s %s", e.InvolvedObject.Kind, e.InvolvedObject.Name)
			}
			out = append(out, fmt.Sprintf("%s %s %s %d: %s", e.InvolvedObject.Kind, e.Type, e.Reason, e.Count, e.Message))
		}
		slices.Sort(out)
		return out
	}
	problems := func(byKind map[string][]string) func(kind, namespace, name string) []string {
		return func(kind, namespace, name string) []string {
			if namespace != ns || name != "p" {
				t.Errorf("problems asked for %s %s/%s", kind, namespace, name)
			}
			return byKind[kind]
		}
	}
	every := func(reasons ...string) map[string][]string {
		out := map[string][]string{}
		for _, k := range smiKinds {
			out[k] = reasons
		}
		return out
	}
	check := func(t *testing.T, want ...string) {
		t.Helper()
		slices.Sort(want)
		if got := events(t); !slices.Equal(got, want) {
			t.Errorf("events:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		}
	}
	each := func(format string) []string {
		var out []string
		for _, k := range smiKinds {
			out = append(out, fmt.Sprintf(format, k))
		}
		return out
	}
	first := []string{"spec.a: missing; skipped", "spec.b: wrong; skipped"}
	second := []string{"spec.c: gone; skipped"}
	firstEvents := each("%s Warning PolicySkipped 1: spec.a: missing; skipped; spec.b: wrong; skipped")

	w := &k8s.PolicyStatusWriter{Client: c, Now: func() time.Time { return time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC) }}
	t.Run("a skipped SMI policy gets one warning event, however many snapshots repeat it", func(t *testing.T) {
		for range 3 {
			if err := w.Write(ctx, s, problems(every(first...))); err != nil {
				t.Fatal(err)
			}
		}
		check(t, firstEvents...)
	})
	t.Run("a writer started anew finds the warning already recorded", func(t *testing.T) {
		restarted := &k8s.PolicyStatusWriter{Client: c}
		if err := restarted.Write(ctx, s, problems(every(first...))); err != nil {
			t.Fatal(err)
		}
		check(t, firstEvents...)
	})
	secondEvents := each("%s Warning PolicySkipped 1: spec.c: gone; skipped")
	t.Run("a different set of problems is a new warning", func(t *testing.T) {
		for range 2 {
			if err := w.Write(ctx, s, problems(every(second...))); err != nil {
				t.Fatal(err)
			}
		}
		check(t, slices.Concat(firstEvents, secondEvents)...)
	})
	acceptedEvents := each("%s Normal PolicyAccepted 1: the policy is in force again")
	t.Run("a policy accepted again gets a normal event", func(t *testing.T) {
		for range 2 {
			if err := w.Write(ctx, s, problems(nil)); err != nil {
				t.Fatal(err)
			}
		}
		check(t, slices.Concat(firstEvents, secondEvents, acceptedEvents)...)
	})
	t.Run("the first problems coming back count again on their event", func(t *testing.T) {
		if err := w.Write(ctx, s, problems(every(first...))); err != nil {
			t.Fatal(err)
		}
		check(t, slices.Concat(each("%s Warning PolicySkipped 2: spec.a: missing; skipped; spec.b: wrong; skipped"),
			secondEvents, acceptedEvents)...)
	})
}
