package k8s_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
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

// Gateway statuses on a real kube-apiserver with Gateway API's CRDs: the
// cluster source reads the class, the Gateway, its routes and (by name) its
// certificate's Secret; the status writer gives the class Accepted, the
// Gateway Accepted and Programmed once its Service has an address, its
// listeners their conditions and attached routes, and each route's Gateway
// parent Accepted and ResolvedRefs, as the specification says and the CRDs'
// schemas accept.
func TestGatewayStatusesOnTheAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.WithGatewayAPI())
	suffix := fmt.Sprintf("%06d", rand.IntN(1000000))
	meshName, app, class := "mesh-"+suffix, "app-"+suffix, "weft-"+suffix
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
	cert, key := fixtureCertificate(t)
	route := func(name string, backend string) *gatewayv1.HTTPRoute {
		r := &gatewayv1.HTTPRoute{ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: name}}
		r.Spec.ParentRefs = []gatewayv1.ParentReference{{Name: "ingress"}}
		r.Spec.Rules = []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{{BackendRef: gatewayv1.BackendRef{
			BackendObjectReference: gatewayv1.BackendObjectReference{Name: gatewayv1.ObjectName(backend), Port: ptr.To[gatewayv1.PortNumber](80)}}}}}}
		return r
	}
	gw := &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: "ingress"}, Spec: gatewayv1.GatewaySpec{
		GatewayClassName: gatewayv1.ObjectName(class),
		Listeners: []gatewayv1.Listener{
			{Name: "http", Protocol: gatewayv1.HTTPProtocolType, Port: 80},
			{Name: "https", Protocol: gatewayv1.HTTPSProtocolType, Port: 443, TLS: &gatewayv1.ListenerTLSConfig{
				CertificateRefs: []gatewayv1.SecretObjectReference{{Name: "tls"}}}},
			{Name: "bad-cert", Protocol: gatewayv1.HTTPSProtocolType, Port: 8443, TLS: &gatewayv1.ListenerTLSConfig{
				CertificateRefs: []gatewayv1.SecretObjectReference{{Name: "missing"}}}},
		}}}
	create(&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app, Labels: map[string]string{k8s.MonitoredByLabel: meshName}}},
		&gatewayv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: class}, Spec: gatewayv1.GatewayClassSpec{ControllerName: catalog.GatewayControllerName}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: "tls"}, Type: corev1.SecretTypeTLS,
			Data: map[string][]byte{corev1.TLSCertKey: cert, corev1.TLSPrivateKeyKey: key}},
		&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: "web"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}},
		gw, route("good", "web"), route("missing-backend", "nope"))

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
	// write waits for a State that holds services Services, then writes.
	write := func(services int) {
		t.Helper()
		testenv.Eventually(t, "the cluster source announces the Gateway, routes, Secret and Services", func() bool {
			mu.Lock()
			s := last
			mu.Unlock()
			if s == nil || len(s.Gateways) != 1 || len(s.GatewayClasses) == 0 || len(s.HTTPRoutes) != 2 || len(s.Secrets) != 1 || len(s.Services) != services {
				return false
			}
			if err := w.Write(ctx, s, problemsOf(catalog.Build(s, mesh.Defaults()))); err != nil {
				t.Fatalf("writing statuses: %v", err)
			}
			return true
		})
	}
	getGateway := func() *gatewayv1.Gateway {
		t.Helper()
		var g gatewayv1.Gateway
		if err := c.Get(ctx, client.ObjectKeyFromObject(gw), &g); err != nil {
			t.Fatal(err)
		}
		return &g
	}
	check := func(where string, conds []metav1.Condition, typ string, status metav1.ConditionStatus, reason string, generation int64) {
		t.Helper()
		cond := meta.FindStatusCondition(conds, typ)
		if cond == nil {
			t.Fatalf("%s: no %s condition in %+v", where, typ, conds)
		}
		if cond.Status != status || cond.Reason != reason || cond.ObservedGeneration != generation {
			t.Errorf("%s: %s %s %s (generation %d, message %q), want %s %s (generation %d)", where, typ, cond.Status, cond.Reason,
				cond.ObservedGeneration, cond.Message, status, reason, generation)
		}
	}

	// Before the provisioned Service exists: accepted, not programmed.
	write(1)
	g := getGateway()
	check("Gateway", g.Status.Conditions, "Accepted", metav1.ConditionTrue, string(gatewayv1.GatewayReasonListenersNotValid), g.Generation)
	check("Gateway", g.Status.Conditions, "Programmed", metav1.ConditionFalse, string(gatewayv1.GatewayReasonAddressNotAssigned), g.Generation)

	// The Service weftd provisions gets its ClusterIP: programmed, with it.
	create(&corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: "ingress-weft-gateway"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}})
	var provisioned corev1.Service
	if err := c.Get(ctx, client.ObjectKey{Namespace: app, Name: "ingress-weft-gateway"}, &provisioned); err != nil {
		t.Fatal(err)
	}
	write(2)
	g = getGateway()
	check("Gateway", g.Status.Conditions, "Programmed", metav1.ConditionTrue, string(gatewayv1.GatewayReasonProgrammed), g.Generation)
	if len(g.Status.Addresses) != 1 || g.Status.Addresses[0].Value != provisioned.Spec.ClusterIP {
		t.Errorf("addresses %+v, want the Service's ClusterIP %s", g.Status.Addresses, provisioned.Spec.ClusterIP)
	}
	if len(g.Status.Listeners) != 3 {
		t.Fatalf("listener statuses %+v", g.Status.Listeners)
	}
	for _, tc := range []struct {
		listener             int
		resolved, programmed metav1.ConditionStatus
		resolvedReason       string
	}{
		{0, metav1.ConditionTrue, metav1.ConditionTrue, "ResolvedRefs"},
		{1, metav1.ConditionTrue, metav1.ConditionTrue, "ResolvedRefs"},
		{2, metav1.ConditionFalse, metav1.ConditionFalse, "InvalidCertificateRef"},
	} {
		ls := g.Status.Listeners[tc.listener]
		where := "listener " + string(ls.Name)
		if ls.AttachedRoutes != 2 || len(ls.SupportedKinds) != 1 || ls.SupportedKinds[0].Kind != "HTTPRoute" {
			t.Errorf("%s: attached routes %d, supported kinds %+v", where, ls.AttachedRoutes, ls.SupportedKinds)
		}
		check(where, ls.Conditions, "Accepted", metav1.ConditionTrue, "Accepted", g.Generation)
		check(where, ls.Conditions, "ResolvedRefs", tc.resolved, tc.resolvedReason, g.Generation)
		reason := "Programmed"
		if tc.programmed == metav1.ConditionFalse {
			reason = "Invalid"
		}
		check(where, ls.Conditions, "Programmed", tc.programmed, reason, g.Generation)
		check(where, ls.Conditions, "Conflicted", metav1.ConditionFalse, "NoConflicts", g.Generation)
	}
	var gc gatewayv1.GatewayClass
	if err := c.Get(ctx, client.ObjectKey{Name: class}, &gc); err != nil {
		t.Fatal(err)
	}
	check("GatewayClass", gc.Status.Conditions, "Accepted", metav1.ConditionTrue, "Accepted", gc.Generation)

	for _, tc := range []struct {
		route          string
		resolved       metav1.ConditionStatus
		resolvedReason gatewayv1.RouteConditionReason
	}{
		{"good", metav1.ConditionTrue, gatewayv1.RouteReasonResolvedRefs},
		{"missing-backend", metav1.ConditionFalse, gatewayv1.RouteReasonBackendNotFound},
	} {
		var r gatewayv1.HTTPRoute
		if err := c.Get(ctx, client.ObjectKey{Namespace: app, Name: tc.route}, &r); err != nil {
			t.Fatal(err)
		}
		if len(r.Status.Parents) != 1 || r.Status.Parents[0].ControllerName != k8s.GatewayIngressController ||
			r.Status.Parents[0].ParentRef.Name != "ingress" {
			t.Fatalf("route %s: status.parents %+v, want the Gateway's entry", tc.route, r.Status.Parents)
		}
		conds := r.Status.Parents[0].Conditions
		check("route "+tc.route, conds, "Accepted", metav1.ConditionTrue, string(gatewayv1.RouteReasonAccepted), r.Generation)
		check("route "+tc.route, conds, "ResolvedRefs", tc.resolved, string(tc.resolvedReason), r.Generation)
	}

	// A second write of the same verdicts changes nothing, once the source
	// has seen the status written (a State from before it would carry the
	// old status, and rightly be written over).
	before := getGateway()
	testenv.Eventually(t, "the cluster source sees the written status", func() bool {
		mu.Lock()
		s := last
		mu.Unlock()
		return s != nil && len(s.Gateways) == 1 && s.Gateways[0].ResourceVersion == before.ResourceVersion
	})
	write(2)
	if after := getGateway(); after.ResourceVersion != before.ResourceVersion {
		t.Errorf("an unchanged Gateway status was written again")
	}
}

// fixtureCertificate is the fixed test certificate and key of the gateway
// fixture.
func fixtureCertificate(t *testing.T) (cert, key []byte) {
	t.Helper()
	data, err := os.ReadFile("../envoy/testdata/fixtures/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	objs, _ := k8s.DecodeObjects(data)
	for _, o := range objs {
		if s, ok := o.(*corev1.Secret); ok {
			return s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]
		}
	}
	t.Fatal("no Secret in the gateway fixture")
	return nil, nil
}
