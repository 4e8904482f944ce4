package k8s_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// GAMMA route statuses on a real kube-apiserver with Gateway API's CRDs: the
// cluster source reads the routes, the catalog resolves them, and the status
// writer gives each Service parent Accepted and ResolvedRefs as the
// specification says, which the CRD's schema accepts.
func TestRouteStatusesOnTheAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.WithGatewayAPI())
	suffix := fmt.Sprintf("%06d", rand.IntN(1000000))
	meshName, app := "mesh-"+suffix, "app-"+suffix
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := env.Client

	create := func(objs ...client.Object) {
		t.Helper()
		for _, o := range objs {
			if err := c.Create(ctx, o); err != nil {
				t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
			}
		}
	}
	service := func(name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: name},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	}
	route := func(name, parent string, backends ...string) *gatewayv1.HTTPRoute {
		r := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: name}}
		r.Spec.ParentRefs = []gatewayv1.ParentReference{
			{Group: ptr.To[gatewayv1.Group](""), Kind: ptr.To[gatewayv1.Kind]("Service"), Name: gatewayv1.ObjectName(parent), Port: ptr.To[gatewayv1.PortNumber](80)},
			// Another controller's parent: neither programmed nor reported.
			{Name: "some-gateway"},
		}
		rule := gatewayv1.HTTPRouteRule{}
		for _, b := range backends {
			rule.BackendRefs = append(rule.BackendRefs, gatewayv1.HTTPBackendRef{BackendRef: gatewayv1.BackendRef{
				BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(b), Port: ptr.To[gatewayv1.PortNumber](80)},
				Weight:                 ptr.To[int32](50)}})
		}
		r.Spec.Rules = []gatewayv1.HTTPRouteRule{rule}
		return r
	}
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app, Labels: map[string]string{k8s.MonitoredByLabel: meshName}}},
		service("web"), service("web-v1"), service("web-v2"),
		route("good", "web", "web-v1", "web-v2"),
		route("missing-backend", "web", "web-v1", "web-v3"),
		route("missing-parent", "nope", "web-v1"))

	var mu sync.Mutex
	var last *k8s.State
	src := &k8s.ClusterSource{Config: env.Config, QuietWindow: 50 * time.Millisecond, MaxDelay: 500 * time.Millisecond,
		Options: k8s.Options{MeshName: meshName, MeshNamespace: "osm-" + suffix}}
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(s *k8s.State) { mu.Lock(); last = s; mu.Unlock() })
	}()
	defer func() { cancel(); <-done }()

	w := &k8s.PolicyStatusWriter{Client: c}
	deadline := time.Now().Add(15 * time.Second)
	for {
		mu.Lock()
		s := last
		mu.Unlock()
		if s != nil && len(s.HTTPRoutes) == 3 && len(s.Services) == 3 {
			m := catalog.Build(s, mesh.Defaults())
			if err := w.Write(ctx, s, problemsOf(m)); err != nil {
				t.Fatalf("writing statuses: %v", err)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cluster source never announced the routes and Services")
		}
		time.Sleep(50 * time.Millisecond)
	}

	for _, tc := range []struct {
		route          string
		accepted       metav1.ConditionStatus
		acceptedReason gatewayv1.RouteConditionReason
		resolved       metav1.ConditionStatus
		resolvedReason gatewayv1.RouteConditionReason
	}{
		{"good", metav1.ConditionTrue, gatewayv1.RouteReasonAccepted, metav1.ConditionTrue, gatewayv1.RouteReasonResolvedRefs},
		{"missing-backend", metav1.ConditionTrue, gatewayv1.RouteReasonAccepted, metav1.ConditionFalse, gatewayv1.RouteReasonBackendNotFound},
		{"missing-parent", metav1.ConditionFalse, gatewayv1.RouteReasonNoMatchingParent, metav1.ConditionTrue, gatewayv1.RouteReasonResolvedRefs},
	} {
		t.Run(tc.route, func(t *testing.T) {
			var r gatewayv1.HTTPRoute
			if err := c.Get(ctx, client.ObjectKey{Namespace: app, Name: tc.route}, &r); err != nil {
				t.Fatal(err)
			}
			if len(r.Status.Parents) != 1 {
				t.Fatalf("status.parents %+v, want one entry (the Service's)", r.Status.Parents)
			}
			p := r.Status.Parents[0]
			if p.ControllerName != k8s.GatewayControllerName || p.ParentRef.Name != r.Spec.ParentRefs[0].Name ||
				p.ParentRef.Namespace == nil || string(*p.ParentRef.Namespace) != app {
				t.Errorf("entry %+v", p)
			}
			check := func(typ gatewayv1.RouteConditionType, status metav1.ConditionStatus, reason gatewayv1.RouteConditionReason) {
				cond := meta.FindStatusCondition(p.Conditions, string(typ))
				if cond == nil {
					t.Fatalf("no %s condition in %+v", typ, p.Conditions)
				}
				if cond.Status != status || cond.Reason != string(reason) || cond.ObservedGeneration != r.Generation {
					t.Errorf("%s: %s %s (generation %d, message %q), want %s %s (generation %d)", typ, cond.Status, cond.Reason,
						cond.ObservedGeneration, cond.Message, status, reason, r.Generation)
				}
			}
			check(gatewayv1.RouteConditionAccepted, tc.accepted, tc.acceptedReason)
			check(gatewayv1.RouteConditionResolvedRefs, tc.resolved, tc.resolvedReason)
		})
	}

	// A second write of the same verdicts changes nothing.
	var before gatewayv1.HTTPRoute
	if err := c.Get(ctx, client.ObjectKey{Namespace: app, Name: "good"}, &before); err != nil {
		t.Fatal(err)
	}
	// Once the source has seen the status written: a State from before it
	// carries the old status, which is rightly written over.
	var s *k8s.State
	testenv.Eventually(t, "the cluster source sees the written status", func() bool {
		mu.Lock()
		s = last
		mu.Unlock()
		if s == nil {
			return false
		}
		i := slices.IndexFunc(s.HTTPRoutes, func(r *gatewayv1.HTTPRoute) bool { return r.Namespace == app && r.Name == "good" })
		return i >= 0 && s.HTTPRoutes[i].ResourceVersion == before.ResourceVersion
	})
	if err := w.Write(ctx, s, problemsOf(catalog.Build(s, mesh.Defaults()))); err != nil {
		t.Fatal(err)
	}
	var after gatewayv1.HTTPRoute
	if err := c.Get(ctx, client.ObjectKey{Namespace: app, Name: "good"}, &after); err != nil {
		t.Fatal(err)
	}
	if after.ResourceVersion != before.ResourceVersion {
		t.Errorf("an unchanged status was written again")
	}
}

// problemsOf is the control plane loop's: each object's problems as its
// status says them.
func problemsOf(m *catalog.Model) func(kind, namespace, name string) []string {
	return func(kind, namespace, name string) []string {
		var out []string
		for _, p := range m.ProblemsFor(catalog.ObjectRef{Kind: kind, Namespace: namespace, Name: name}) {
			out = append(out, p.Detail())
		}
		return out
	}
}
