package main

import (
	"context"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// TestRootTrustedElsewhere: on a real API server, nothing trusts a root on a
// first install; injected pods of the mesh's namespaces and a caBundle that
// weftd wrote into its webhook configuration do, and are named.
func TestRootTrustedElsewhere(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	check := func(webhookCABundles bool) string {
		t.Helper()
		got, err := rootTrustedElsewhere(env.Client, "osm", webhookCABundles)(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := check(true); got != "" {
		t.Fatalf("on a first install: %q, want nothing", got)
	}

	// A pod of another mesh's namespace does not count; one of this mesh's does.
	for ns, mesh := range map[string]string{"theirs": "other", "bookstore": "osm"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{injector.LabelMonitoredBy: mesh}}}); err != nil {
			t.Fatal(err)
		}
	}
	pod := func(ns string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app", Namespace: ns, Labels: map[string]string{injector.LabelProxyUUID: "5bd7b0a6-52a4-4c35-9d0b-0c6f1f7e8a11"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
	}
	if err := env.Client.Create(ctx, pod("theirs")); err != nil {
		t.Fatal(err)
	}
	if got := check(true); got != "" {
		t.Errorf("with another mesh's pod: %q, want nothing", got)
	}
	if err := env.Client.Create(ctx, pod("bookstore")); err != nil {
		t.Fatal(err)
	}
	if got := check(true); !strings.Contains(got, "bookstore/app") {
		t.Errorf("with an injected pod: %q, want it named", got)
	}
	if err := env.Client.Delete(ctx, pod("bookstore")); err != nil {
		t.Fatal(err)
	}

	none := admissionregistrationv1.SideEffectClassNone
	if err := env.Client.Create(ctx, &admissionregistrationv1.MutatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: mesh.MutatingWebhookName("osm")},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name: "sidecar-injector.weft-mesh.io", AdmissionReviewVersions: []string{"v1"}, SideEffects: &none,
			ClientConfig: admissionregistrationv1.WebhookClientConfig{URL: new("https://weftd.example:9443/mutate"), CABundle: []byte("roots")},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	if got := check(true); !strings.Contains(got, "caBundle of webhook configuration "+mesh.MutatingWebhookName("osm")) {
		t.Errorf("with a caBundle weftd wrote: %q, want the webhook configuration named", got)
	}
	if got := check(false); got != "" {
		t.Errorf("with a caBundle weftd does not keep (--webhook-cert-dir): %q, want nothing", got)
	}
}
