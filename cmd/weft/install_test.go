package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/internal/testenv"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// TestInstallAndUninstall installs the mesh into a namespace of its own on a
// real API server, reinstalls it, and uninstalls it without leftovers.
func TestInstallAndUninstall(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := newRootCommand()
		cmd.SetArgs(append(args, "--kubeconfig", env.KubeconfigPath))
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		err := cmd.Execute()
		return out.String(), err
	}
	weft := func(args ...string) string {
		t.Helper()
		out, err := run(args...)
		if err != nil {
			t.Fatalf("weft %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	weftErr := func(args ...string) error { _, err := run(args...); return err }
	exists := func(obj client.Object, ns, name string) bool {
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}

	t.Run("install puts the control plane in the mesh namespace", func(t *testing.T) {
		// No kubelet runs here: weftd never becomes ready, so the install's
		// wait would fail; --timeout=0 does not wait (see the test below).
		out := weft("install", "--mesh-name", "blue", "--mesh-namespace", "blue-system", "--enable-permissive-traffic-policy", "--timeout=0")
		if !strings.Contains(out, "Created MeshConfig blue-system/osm-mesh-config") {
			t.Errorf("output:\n%s", out)
		}
		var d appsv1.Deployment
		if !exists(&d, "blue-system", "weftd") {
			t.Fatal("no weftd Deployment")
		}
		if args := strings.Join(d.Spec.Template.Spec.Containers[0].Args, " "); args != "--mesh-name=blue --mesh-namespace=blue-system" {
			t.Errorf("weftd args = %q", args)
		}
		var m admissionregistrationv1.MutatingWebhookConfiguration
		if !exists(&m, "", "weft-sidecar-injector") || m.Webhooks[0].ClientConfig.Service.Namespace != "blue-system" {
			t.Errorf("the injection webhook does not call weftd in blue-system: %+v", m.Webhooks)
		}
		var mc configv1alpha2.MeshConfig
		// --enable-egress left off is written as false, which the schema's
		// default (true) must not replace; the rest holds OSM's defaults.
		if !exists(&mc, "blue-system", "osm-mesh-config") || !mc.Spec.Traffic.EnablePermissiveTrafficPolicyMode || mc.Spec.Traffic.EnableEgress {
			t.Errorf("MeshConfig = %+v", mc.Spec.Traffic)
		}
		if !mc.Spec.FeatureFlags.EnableEgressPolicy || mc.Spec.Certificate.ServiceCertValidityDuration != "24h" || mc.Spec.Sidecar.TLSMinProtocolVersion != "TLSv1_2" {
			t.Errorf("MeshConfig = %+v", mc.Spec)
		}
	})

	t.Run("mesh list shows the control plane", func(t *testing.T) {
		out := weft("mesh", "list")
		if !strings.Contains(out, "blue") || !strings.Contains(out, "blue-system") || !strings.Contains(out, "ghcr.io/weft-mesh/weftd:latest") {
			t.Errorf("mesh list:\n%s", out)
		}
	})

	t.Run("a reinstall keeps the user's MeshConfig, with weftd down", func(t *testing.T) {
		// No weftd runs here to answer the webhooks the install made: the
		// reinstall must not need it.
		var mc configv1alpha2.MeshConfig
		exists(&mc, "blue-system", "osm-mesh-config")
		mc.Spec.Traffic.EnableEgress = true
		if err := env.Client.Update(ctx, &mc); err != nil {
			t.Fatal(err)
		}
		weft("install", "--mesh-name", "blue", "--mesh-namespace", "blue-system", "--timeout=0")
		exists(&mc, "blue-system", "osm-mesh-config")
		if !mc.Spec.Traffic.EnableEgress {
			t.Error("the reinstall overwrote the MeshConfig")
		}
		// A flag the existing MeshConfig already says is fine; one it
		// contradicts is refused, naming it, before anything is applied.
		weft("install", "--mesh-name", "blue", "--mesh-namespace", "blue-system", "--enable-egress", "--timeout=0")
		err := weftErr("install", "--mesh-name", "blue", "--mesh-namespace", "blue-system", "--envoy-image", "example.com/envoy:v2", "--timeout=0")
		if err == nil || !strings.Contains(err.Error(), "--envoy-image") || !strings.Contains(err.Error(), "kubectl edit meshconfig") {
			t.Errorf("a reinstall with a contradicting --envoy-image: %v, want a refusal naming the flag", err)
		}
	})

	t.Run("an install whose weftd does not become ready reports it within --timeout", func(t *testing.T) {
		err := weftErr("install", "--mesh-name", "blue", "--mesh-namespace", "blue-system", "--timeout=2s")
		if err == nil || !strings.Contains(err.Error(), "weftd in namespace blue-system is not ready after 2s") {
			t.Errorf("install with no kubelet: %v, want weftd reported not ready", err)
		}
	})

	t.Run("uninstall removes the control plane, its webhooks and its Secrets, but keeps the root and the CRDs", func(t *testing.T) {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}); err != nil {
			t.Fatal(err)
		}
		for _, s := range []*corev1.Secret{
			{ObjectMeta: metav1.ObjectMeta{Name: "envoy-bootstrap-config-x", Namespace: "shop", Labels: map[string]string{"app.kubernetes.io/managed-by": "weft", "app.kubernetes.io/component": "envoy-bootstrap"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "osm-ca-bundle", Namespace: "blue-system", Labels: map[string]string{"app.kubernetes.io/managed-by": "weft", "app.kubernetes.io/component": "ca-root"}}},
			{ObjectMeta: metav1.ObjectMeta{Name: "users-own", Namespace: "shop"}},
		} {
			if err := env.Client.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		weft("uninstall", "mesh", "--mesh-name", "blue", "--mesh-namespace", "blue-system")
		gone := map[string]client.Object{
			"weftd Deployment":  &appsv1.Deployment{},
			"injection webhook": &admissionregistrationv1.MutatingWebhookConfiguration{},
			"bootstrap Secret":  &corev1.Secret{},
		}
		if exists(gone["weftd Deployment"], "blue-system", "weftd") || exists(gone["injection webhook"], "", "weft-sidecar-injector") ||
			exists(gone["bootstrap Secret"], "shop", "envoy-bootstrap-config-x") {
			t.Error("uninstall left the control plane, its webhook or a bootstrap Secret")
		}
		if !exists(&corev1.Secret{}, "blue-system", "osm-ca-bundle") || !exists(&corev1.Secret{}, "shop", "users-own") {
			t.Error("uninstall deleted the mesh root or a user's Secret")
		}
		var mc configv1alpha2.MeshConfig
		if !exists(&mc, "blue-system", "osm-mesh-config") {
			t.Error("uninstall without --delete-cluster-wide-resources deleted the MeshConfig")
		}
	})
}
