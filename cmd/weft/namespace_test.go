package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/internal/testenv"
)

// TestNamespaceVerbs runs `weft namespace add|list|remove` against a real API
// server, as an OSM user runs `osm namespace ...`.
func TestNamespaceVerbs(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	for _, name := range []string{"bookstore", "bookbuyer", "elsewhere"} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}
	weft := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := newRootCommand()
		cmd.SetArgs(append(args, "--kubeconfig", env.KubeconfigPath))
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		err := cmd.Execute()
		return out.String(), err
	}
	namespace := func(name string) *corev1.Namespace {
		var ns corev1.Namespace
		if err := env.Client.Get(ctx, client.ObjectKey{Name: name}, &ns); err != nil {
			t.Fatal(err)
		}
		return &ns
	}

	t.Run("add labels the namespace and enables injection", func(t *testing.T) {
		if out, err := weft("namespace", "add", "bookstore"); err != nil || !strings.Contains(out, "Namespace [bookstore] successfully added to mesh [osm]") {
			t.Fatalf("%v: %s", err, out)
		}
		ns := namespace("bookstore")
		if ns.Labels[monitoredByLabel] != "osm" || ns.Annotations[injectionAnnotation] != "enabled" {
			t.Errorf("labels %v annotations %v", ns.Labels, ns.Annotations)
		}
	})

	t.Run("add --disable-sidecar-injection monitors without injecting", func(t *testing.T) {
		if out, err := weft("namespace", "add", "bookbuyer", "--disable-sidecar-injection"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if got := namespace("bookbuyer").Annotations[injectionAnnotation]; got != "disabled" {
			t.Errorf("injection = %q, want disabled", got)
		}
	})

	t.Run("a namespace of another mesh is not taken over", func(t *testing.T) {
		if _, err := weft("namespace", "add", "elsewhere", "--mesh-name", "other"); err != nil {
			t.Fatal(err)
		}
		_, err := weft("namespace", "add", "elsewhere")
		if err == nil || !strings.Contains(err.Error(), `already belongs to mesh "other"`) {
			t.Errorf("error = %v", err)
		}
	})

	t.Run("list shows the mesh's namespaces and their injection", func(t *testing.T) {
		out, err := weft("namespace", "list")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || !strings.HasPrefix(lines[1], "bookbuyer") || !strings.Contains(lines[1], "disabled") ||
			!strings.HasPrefix(lines[2], "bookstore") || !strings.Contains(lines[2], "enabled") {
			t.Errorf("list:\n%s", out)
		}
	})

	t.Run("metrics enable annotates mesh namespaces only, and their meshed pods", func(t *testing.T) {
		// A meshed pod (the injector's proxy label) and one outside the mesh.
		for name, labels := range map[string]map[string]string{"meshed": {"osm-proxy-uuid": "6f1c5b0e-8f43-4d3a-9a57-1d2b3c4d5e6f"}, "plain": nil} {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "bookbuyer", Name: name, Labels: labels},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
			if err := env.Client.Create(ctx, pod); err != nil {
				t.Fatal(err)
			}
		}
		scrape := func(name string) string {
			var pod corev1.Pod
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "bookbuyer", Name: name}, &pod); err != nil {
				t.Fatal(err)
			}
			return pod.Annotations["prometheus.io/scrape"]
		}
		if out, err := weft("metrics", "enable", "--namespace", "bookstore,bookbuyer"); err != nil || !strings.Contains(out, "[bookbuyer] and its 1 meshed pods") {
			t.Fatalf("%v: %s", err, out)
		}
		if got := namespace("bookbuyer").Annotations["openservicemesh.io/metrics"]; got != "enabled" {
			t.Errorf("metrics = %q, want enabled", got)
		}
		if scrape("meshed") != "true" || scrape("plain") != "" {
			t.Errorf("scrape annotations: meshed %q, plain %q; want true on the meshed pod only", scrape("meshed"), scrape("plain"))
		}
		if _, err := weft("metrics", "enable", "--namespace", "elsewhere"); err == nil || !strings.Contains(err.Error(), `not in mesh "osm"`) {
			t.Errorf("error = %v, want a refusal for a namespace of another mesh", err)
		}
		if out, err := weft("metrics", "disable", "--namespace", "bookbuyer"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if got := namespace("bookbuyer").Annotations["openservicemesh.io/metrics"]; got != "disabled" {
			t.Errorf("metrics = %q, want disabled", got)
		}
		if got := scrape("meshed"); got != "" {
			t.Errorf("the meshed pod's scrape annotation is %q after disable, want none", got)
		}
	})

	t.Run("remove takes the label and annotation away", func(t *testing.T) {
		if out, err := weft("namespace", "remove", "bookstore"); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		ns := namespace("bookstore")
		if _, ok := ns.Labels[monitoredByLabel]; ok {
			t.Errorf("labels %v still name the mesh", ns.Labels)
		}
		if _, ok := ns.Annotations[injectionAnnotation]; ok {
			t.Errorf("annotations %v still enable injection", ns.Annotations)
		}
		if _, err := weft("namespace", "remove", "elsewhere"); err == nil {
			t.Error("removed a namespace of another mesh")
		}
	})
}
