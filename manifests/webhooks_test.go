package manifests_test

import (
	"context"
	"strings"
	"testing"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weft-mesh/weft/internal/testenv"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// TestABrokenWeftdCanBeRepairedWithKubectl installs both webhook
// configurations on a real API server with nothing serving them, as when
// weftd is down or crash-looping: the MeshConfig (what repairs weftd) can
// still be created and edited, and the mesh namespace's pods still start,
// while policies and meshed pods wait for weftd.
func TestABrokenWeftdCanBeRepairedWithKubectl(t *testing.T) {
	env := testenv.Start(t, testenv.WithWebhooks(testenv.ValidatingWebhooks, testenv.MutatingWebhooks))
	ctx := context.Background()
	for _, ns := range []string{"osm-system", "bookstore"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels: map[string]string{"openservicemesh.io/monitored-by": "osm"}}}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(ns string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
	}

	mc := &configv1alpha2.MeshConfig{ObjectMeta: metav1.ObjectMeta{Name: "osm-mesh-config", Namespace: "osm-system"}}
	mc.Spec.Certificate.ServiceCertValidityDuration = "24h"
	if err := env.Client.Create(ctx, mc); err != nil {
		t.Fatalf("creating the MeshConfig while weftd is down: %v", err)
	}
	mc.Spec.Certificate.ServiceCertValidityDuration = "12h"
	if err := env.Client.Update(ctx, mc); err != nil {
		t.Fatalf("editing the MeshConfig while weftd is down: %v", err)
	}
	if err := env.Client.Create(ctx, pod("osm-system")); err != nil {
		t.Fatalf("creating a pod in the mesh namespace while weftd is down: %v", err)
	}

	tt := &smiaccess.TrafficTarget{ObjectMeta: metav1.ObjectMeta{Name: "bookstore", Namespace: "bookstore"},
		Spec: smiaccess.TrafficTargetSpec{
			Destination: smiaccess.IdentityBindingSubject{Kind: "ServiceAccount", Name: "bookstore", Namespace: "bookstore"},
			Sources:     []smiaccess.IdentityBindingSubject{{Kind: "ServiceAccount", Name: "bookbuyer", Namespace: "bookbuyer"}},
			Rules:       []smiaccess.TrafficTargetRule{{Kind: "TCPRoute", Name: "tcp"}},
		}}
	for what, err := range map[string]error{
		"a TrafficTarget": env.Client.Create(ctx, tt),
		"a meshed pod":    env.Client.Create(ctx, pod("bookstore")),
	} {
		if err == nil || !strings.Contains(err.Error(), "failed calling webhook") {
			t.Errorf("%s created while weftd is down (err %v); want it refused until weftd answers", what, err)
		}
	}
}
