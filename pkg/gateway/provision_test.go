package gateway_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/gateway"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/k8s/state"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// newCA is a mesh CA with a fresh root.
func newCA(t *testing.T) *ca.Manager {
	t.Helper()
	root, err := internalca.NewRoot("gateway test root", internalca.DefaultRootValidity, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	m, err := ca.NewManager(ca.Options{Signer: internalca.New(root, nil), TrustDomain: identity.DefaultTrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// On a real API server with the garbage collector: a Gateway of Weft's class
// gets its ServiceAccount, Deployment and Service, owned by it, and the
// bootstrap renewer serves the Deployment's pod a proxy certificate of kind
// gateway; a Gateway of another class gets nothing; deleting the Gateway
// removes what was provisioned.
func TestProvisioningOnTheAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.WithGatewayAPI(), testenv.WithControllerManager())
	suffix := fmt.Sprintf("%06d", rand.IntN(1000000))
	app, class := "app-"+suffix, "weft-"+suffix
	ctx := context.Background()
	c := env.Client
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app, Labels: map[string]string{k8s.MonitoredByLabel: "osm"}}}
	gc := &gatewayv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: class}, Spec: gatewayv1.GatewayClassSpec{ControllerName: state.GatewayClassController}}
	other := &gatewayv1.GatewayClass{ObjectMeta: metav1.ObjectMeta{Name: "other-" + suffix}, Spec: gatewayv1.GatewayClassSpec{ControllerName: "example.com/gateway"}}
	gw := func(name, class string) *gatewayv1.Gateway {
		return &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: name}, Spec: gatewayv1.GatewaySpec{
			GatewayClassName: gatewayv1.ObjectName(class),
			Listeners: []gatewayv1.Listener{
				{Name: "http", Protocol: gatewayv1.HTTPProtocolType, Port: 80},
				{Name: "https", Protocol: gatewayv1.HTTPSProtocolType, Port: 443, TLS: &gatewayv1.ListenerTLSConfig{
					CertificateRefs: []gatewayv1.SecretObjectReference{{Name: "tls"}}}},
			}}}
	}
	ours, theirs := gw("ingress", class), gw("elsewhere", other.Name)
	for _, o := range []client.Object{ns, gc, other, ours, theirs} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatalf("creating %s: %v", o.GetName(), err)
		}
	}
	s := &state.State{Namespaces: []*corev1.Namespace{ns}, GatewayClasses: []*gatewayv1.GatewayClass{gc, other},
		Gateways: []*gatewayv1.Gateway{ours, theirs}}
	p := &gateway.Provisioner{Client: c, MeshName: "osm"}
	if err := p.Write(ctx, s, nil); err != nil {
		t.Fatal(err)
	}

	name := "ingress-weft-gateway"
	objs := []client.Object{&corev1.ServiceAccount{}, &appsv1.Deployment{}, &corev1.Service{}}
	for _, o := range objs {
		if err := c.Get(ctx, client.ObjectKey{Namespace: app, Name: name}, o); err != nil {
			t.Fatalf("%T %s: %v", o, name, err)
		}
		if !metav1.IsControlledBy(o, ours) {
			t.Errorf("%T %s is not owned by the Gateway: %+v", o, name, o.GetOwnerReferences())
		}
	}
	svc, dep := objs[2].(*corev1.Service), objs[1].(*appsv1.Deployment)
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer || len(svc.Spec.Ports) != 2 || svc.Spec.Ports[0].Port != 80 || svc.Spec.Ports[1].Port != 443 {
		t.Errorf("Service spec %+v", svc.Spec)
	}
	pod := dep.Spec.Template
	if pod.Spec.ServiceAccountName != name || pod.Annotations[injector.AnnotationGateway] != "ingress" ||
		pod.Labels[injector.LabelProxyUUID] == "" || pod.Spec.Containers[0].Image != injector.DefaultEnvoyImage {
		t.Errorf("pod template %+v", pod)
	}
	// The renewer would take its pods for gateway proxies.
	proxy, err := injector.ProxyOfPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: app, Labels: pod.Labels, Annotations: pod.Annotations}, Spec: pod.Spec})
	if err != nil || proxy.Kind != "gateway" || proxy.Identity.ServiceAccount != name {
		t.Errorf("ProxyOfPod of the template: %v, %v", proxy, err)
	}
	if err := c.Get(ctx, client.ObjectKey{Namespace: app, Name: "elsewhere-weft-gateway"}, &appsv1.Deployment{}); !apierrors.IsNotFound(err) {
		t.Errorf("another class's Gateway was provisioned: %v", err)
	}

	// A Service of the same name that is not the Gateway's is left alone.
	mine := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: "taken-weft-gateway"},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 1}}}}
	taken := gw("taken", class)
	for _, o := range []client.Object{mine, taken} {
		if err := c.Create(ctx, o); err != nil {
			t.Fatal(err)
		}
	}
	s.Gateways = append(s.Gateways, taken)
	if err := p.Write(ctx, s, nil); err == nil {
		t.Errorf("a user's Service of the provisioned name was not reported")
	}
	if err := c.Get(ctx, client.ObjectKeyFromObject(mine), mine); err != nil || len(mine.OwnerReferences) != 0 || mine.Spec.Ports[0].Port != 1 {
		t.Errorf("the user's Service changed: %+v, %v", mine, err)
	}

	// The Deployment's pod is served by the bootstrap renewer as a gateway:
	// its Secret holds a proxy certificate of kind gateway, for the
	// Gateway's identity.
	var made *corev1.Pod
	testenv.Eventually(t, "the Deployment makes a pod", func() bool {
		var pods corev1.PodList
		if err := c.List(ctx, &pods, client.InNamespace(app), client.MatchingLabels{gateway.LabelGateway: "ingress"}); err != nil || len(pods.Items) == 0 {
			return false
		}
		made = &pods.Items[0]
		return true
	})
	manager := newCA(t)
	renewer := &injector.BootstrapSecrets{MeshName: "osm", XDS: injector.XDSEndpointFor("", mesh.Defaults(), 0),
		Certificates: manager, Client: c, Namespaces: injector.NamespacesFrom(c)}
	if _, skipped, err := renewer.Reconcile(ctx, made, func() ([]corev1.Pod, error) { return []corev1.Pod{*made}, nil }); err != nil || skipped != "" {
		t.Fatalf("the renewer skipped the gateway's pod: %q, %v", skipped, err)
	}
	var secret corev1.Secret
	if err := c.Get(ctx, client.ObjectKey{Namespace: app, Name: injector.BootstrapSecretName(made.Labels[injector.LabelProxyUUID])}, &secret); err != nil {
		t.Fatal(err)
	}
	chain, err := ca.ParseCertificatesPEM(secret.Data[injector.CertChainFileName])
	if err != nil {
		t.Fatal(err)
	}
	issued, err := ca.VerifyProxyCertificate(chain, manager.BundlePool(), identity.DefaultTrustDomain, time.Now())
	if err != nil || issued.Kind != ca.ProxyGateway || issued.Identity != (identity.Identity{Namespace: app, ServiceAccount: name}) {
		t.Errorf("the gateway's certificate names %v (%v), want a gateway of %s/%s", issued, err, app, name)
	}

	// Deleting the Gateway deletes them.
	if err := c.Delete(ctx, ours); err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		testenv.Eventually(t, fmt.Sprintf("the garbage collector deletes %T %s", o, name), func() bool {
			return apierrors.IsNotFound(c.Get(ctx, client.ObjectKey{Namespace: app, Name: name}, o))
		})
	}
}
