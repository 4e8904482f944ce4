package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/internal/testenv"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// TestInstallUpgradeUninstall runs the CLI's life cycle of two meshes on a
// real API server with kube-controller-manager: a dry run the API server
// accepts, an install whose weftd never becomes ready (reported within
// --timeout, and --atomic leaves nothing), install, mesh list, upgrade, a
// rerun, and uninstall, after which nothing the installs made is left.
//
// No weftd runs: every step runs as while weftd is down, so the mesh's own
// objects must never wait on its webhooks. No kubelet runs either: the test
// stands in for it, marking weftd's pods running and ready when it is told to.
func TestInstallUpgradeUninstall(t *testing.T) {
	env := testenv.Start(t, testenv.WithControllerManager())
	ctx := t.Context()
	run := func(stdin string, args ...string) (string, error) {
		var out bytes.Buffer
		cmd := newRootCommand()
		cmd.SetArgs(append(args, "--kubeconfig", env.KubeconfigPath))
		cmd.SetIn(strings.NewReader(stdin))
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		err := cmd.Execute()
		return out.String(), err
	}
	weft := func(args ...string) string {
		t.Helper()
		out, err := run("", args...)
		if err != nil {
			t.Fatalf("weft %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return out
	}
	exists := func(obj client.Object, ns, name string) bool {
		t.Helper()
		err := env.Client.Get(ctx, client.ObjectKey{Namespace: ns, Name: name}, obj)
		if err != nil && !apierrors.IsNotFound(err) {
			t.Fatal(err)
		}
		return err == nil
	}
	var kubelet atomic.Bool
	podIP := testenv.HostIPv4(t)
	go standInKubelet(ctx, env.Client, &kubelet, podIP)

	// What kube-controller-manager makes on its own in the cluster's
	// namespaces is there before the snapshot.
	var before map[string]bool
	testenv.Eventually(t, "kube-controller-manager has filled the cluster's namespaces", func() bool {
		before = clusterObjects(t, env)
		for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
			if !before["serviceaccounts. "+ns+"/default"] || !before["configmaps. "+ns+"/kube-root-ca.crt"] {
				return false
			}
		}
		return true
	})
	leftovers := func(t *testing.T) {
		t.Helper()
		// Namespaces take a while to finish deleting.
		var left []string
		for deadline := time.Now().Add(time.Minute); ; time.Sleep(time.Second) {
			left = nil
			for key := range clusterObjects(t, env) {
				if !before[key] {
					left = append(left, key)
				}
			}
			if len(left) == 0 || time.Now().After(deadline) {
				break
			}
		}
		if len(left) > 0 {
			slices.Sort(left)
			t.Errorf("left behind: %v", left)
		}
	}

	t.Run("check --pre passes on an empty cluster", func(t *testing.T) {
		out := weft("check", "--pre", "--mesh-name", "blue", "--osm-namespace", "blue-system")
		if !strings.Contains(out, "√ can create customresourcedefinitions.apiextensions.k8s.io") || !strings.Contains(out, "Status check results are √") {
			t.Errorf("output:\n%s", out)
		}
	})

	t.Run("install --dry-run prints what the API server accepts", func(t *testing.T) {
		out := weft("install", "--dry-run", "--mesh-name", "blue", "--osm-namespace", "blue-system", "--set", "osm.enablePermissiveTrafficPolicy=false")
		objs, err := k8s.DecodeYAML(strings.NewReader(out))
		if err != nil {
			t.Fatal(err)
		}
		// A dry run creates no namespace, so the mesh namespace is made for
		// real, and removed after.
		ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "blue-system"}}
		if err := env.Client.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
		kinds := map[string]bool{}
		for _, obj := range objs {
			kinds[obj.GetKind()] = true
			if err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("kubectl"), client.ForceOwnership, client.DryRunAll); err != nil {
				t.Errorf("%s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
			}
			if obj.GetKind() == "MeshConfig" {
				if permissive, _, _ := unstructuredBool(obj.Object, "spec", "traffic", "enablePermissiveTrafficPolicyMode"); permissive {
					t.Error("osm.enablePermissiveTrafficPolicy=false was not applied to the MeshConfig")
				}
			}
		}
		for _, k := range []string{"Namespace", "CustomResourceDefinition", "Deployment", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration", "MeshConfig", "ClusterRole"} {
			if !kinds[k] {
				t.Errorf("no %s in the dry run's output", k)
			}
		}
		if err := env.Client.Delete(ctx, ns); err != nil {
			t.Fatal(err)
		}
		leftovers(t)
	})

	t.Run("values with no counterpart are refused, naming them", func(t *testing.T) {
		_, err := run("", "install", "--dry-run", "--set", "osm.deployGrafana=true,replicas=2")
		if err == nil || !strings.Contains(err.Error(), "osm.deployGrafana") {
			t.Errorf("an OSM value with no counterpart: %v", err)
		}
		_, err = run("", "install", "--dry-run", "--set", "replicas=2")
		if err == nil || !strings.Contains(err.Error(), "replicas") {
			t.Errorf("an unknown value: %v", err)
		}
	})

	t.Run("an install whose weftd is not ready fails within --timeout, and --atomic leaves nothing", func(t *testing.T) {
		start := time.Now()
		out, err := run("", "install", "--mesh-name", "blue", "--osm-namespace", "blue-system", "--timeout=3s", "--atomic")
		if err == nil || !strings.Contains(err.Error(), "weftd in namespace blue-system is not ready after 3s") {
			t.Fatalf("install with weftd never ready: %v\n%s", err, out)
		}
		t.Logf("failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
		leftovers(t)
	})

	kubelet.Store(true)
	// As OSM's bootstrap left them: a CRD converting through osm-bootstrap.
	kf := kubeFlags{config: genericclioptions.NewConfigFlags(true)}
	kf.config.KubeConfig = &env.KubeconfigPath
	crdClient, err := kf.objectClient()
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := crdClient.Get(ctx, client.ObjectKey{Name: "meshconfigs.config.openservicemesh.io"}, &crd); err != nil {
		t.Fatal(err)
	}
	crd.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.WebhookConverter,
		Webhook: &apiextensionsv1.WebhookConversion{ConversionReviewVersions: []string{"v1"},
			ClientConfig: &apiextensionsv1.WebhookClientConfig{Service: &apiextensionsv1.ServiceReference{Namespace: "kube-system", Name: "osm-bootstrap", Path: ptr.To("/convert")}}}}
	if err := crdClient.Update(ctx, &crd); err != nil {
		t.Fatal(err)
	}
	t.Run("install, with the kubelet's stand-in marking weftd ready", func(t *testing.T) {
		out := weft("install", "--mesh-name", "blue", "--osm-namespace", "blue-system", "--enforce-single-mesh=false", "--timeout=2m")
		if !strings.Contains(out, "weftd is ready") {
			t.Errorf("output:\n%s", out)
		}
		var d appsv1.Deployment
		if !exists(&d, "blue-system", "weftd") || d.Labels["weft.io/mesh-name"] != "blue" {
			t.Fatalf("weftd Deployment: %v", d.Labels)
		}
		var m admissionregistrationv1.MutatingWebhookConfiguration
		if !exists(&m, "", mesh.MutatingWebhookName("blue")) || m.Webhooks[0].ClientConfig.Service.Namespace != "blue-system" {
			t.Errorf("the injection webhook does not call weftd in blue-system: %+v", m.Webhooks)
		}
		var mc configv1alpha2.MeshConfig
		if !exists(&mc, "blue-system", "osm-mesh-config") || !mc.Spec.Traffic.EnablePermissiveTrafficPolicyMode {
			t.Errorf("MeshConfig %+v, want OSM's chart preset (permissive)", mc.Spec.Traffic)
		}
		if err := crdClient.Get(ctx, client.ObjectKey{Name: crd.Name}, &crd); err != nil || crd.Spec.Conversion.Strategy != apiextensionsv1.NoneConverter {
			t.Errorf("the CRD still converts through %+v", crd.Spec.Conversion)
		}
	})

	t.Run("check passes with weftd ready, and fails naming the check once it is not", func(t *testing.T) {
		// What weftd writes once it runs: its root, and the webhooks' caBundle.
		root := selfSignedCA(t)
		if err := env.Client.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "osm-ca-bundle", Namespace: "blue-system",
			Labels: map[string]string{"app.kubernetes.io/managed-by": "weft", "app.kubernetes.io/component": "ca-root"}},
			Data: map[string][]byte{"ca.crt": root}}); err != nil {
			t.Fatal(err)
		}
		var m admissionregistrationv1.MutatingWebhookConfiguration
		var v admissionregistrationv1.ValidatingWebhookConfiguration
		exists(&m, "", mesh.MutatingWebhookName("blue"))
		exists(&v, "", mesh.ValidatingWebhookName("blue"))
		for i := range m.Webhooks {
			m.Webhooks[i].ClientConfig.CABundle = root
		}
		for i := range v.Webhooks {
			v.Webhooks[i].ClientConfig.CABundle = root
		}
		if err := env.Client.Update(ctx, &m); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Update(ctx, &v); err != nil {
			t.Fatal(err)
		}
		// weftd's /debug/proxy-status, reached through the API server's pod
		// proxy at the address the kubelet's stand-in gives weftd's pods:
		// one proxy, in sync.
		status := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			fmt.Fprint(w, `[{"ID":"p1","Kind":"sidecar","Identity":{"Namespace":"bookstore","ServiceAccount":"bookstore"},"types":{"CDS":{"sent":"v1","acked":"v1"}}}]`)
		}))
		l, err := net.Listen("tcp", net.JoinHostPort(podIP, "0"))
		if err != nil {
			t.Fatal(err)
		}
		status.Listener = l
		status.Start()
		defer status.Close()
		_, port, _ := net.SplitHostPort(l.Addr().String())
		defer func(port string) { weftdHealthPort = port }(weftdHealthPort)
		weftdHealthPort = port
		testenv.Eventually(t, "weftd's pod has its address", func() bool {
			var pods corev1.PodList
			return env.Client.List(ctx, &pods, client.InNamespace("blue-system")) == nil && len(pods.Items) > 0 && pods.Items[0].Status.PodIP == podIP
		})
		if out := weft("check", "--mesh-name", "blue", "--osm-namespace", "blue-system"); !strings.Contains(out, "Status check results are √") {
			t.Errorf("output:\n%s", out)
		}

		// weftd stops: its pods are replaced by ones that never get ready.
		kubelet.Store(false)
		if err := env.Client.DeleteAllOf(ctx, &corev1.Pod{}, client.InNamespace("blue-system")); err != nil {
			t.Fatal(err)
		}
		var out string
		testenv.Eventually(t, "check fails", func() bool {
			out, err = run("", "check", "--mesh-name", "blue", "--osm-namespace", "blue-system")
			return err != nil
		})
		if !strings.Contains(err.Error(), "weftd's replicas are ready") || !strings.Contains(out, "× weftd's replicas are ready") {
			t.Errorf("check with weftd down: %v\n%s", err, out)
		}
		kubelet.Store(true)
	})

	t.Run("one mesh per cluster unless asked, and names never collide", func(t *testing.T) {
		if _, err := run("", "install", "--mesh-name", "green", "--osm-namespace", "green-system", "--timeout=0"); err == nil ||
			!strings.Contains(err.Error(), "mesh blue in namespace blue-system already installed") {
			t.Errorf("a second mesh enforcing a single mesh: %v", err)
		}
		if _, err := run("", "install", "--mesh-name", "blue", "--osm-namespace", "green-system", "--timeout=0", "--enforce-single-mesh=false"); err == nil ||
			!strings.Contains(err.Error(), "already installed in namespace blue-system") {
			t.Errorf("a second mesh of the same name: %v", err)
		}
		weft("install", "--mesh-name", "green", "--osm-namespace", "green-system", "--timeout=0", "--enforce-single-mesh=false")
		for _, name := range []string{mesh.MutatingWebhookName("blue"), mesh.MutatingWebhookName("green")} {
			if !exists(&admissionregistrationv1.MutatingWebhookConfiguration{}, "", name) {
				t.Errorf("no %s", name)
			}
		}
	})

	t.Run("mesh list shows both", func(t *testing.T) {
		out := weft("mesh", "list")
		for _, want := range []string{"blue-system", "green-system", "weft-0.1.0", "ghcr.io/weft-mesh/weftd:latest"} {
			if !strings.Contains(out, want) {
				t.Errorf("mesh list lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("upgrade keeps the release's values and the MeshConfig's live edits", func(t *testing.T) {
		var mc configv1alpha2.MeshConfig
		exists(&mc, "blue-system", "osm-mesh-config")
		mc.Spec.Sidecar.LogLevel = "debug"
		if err := env.Client.Update(ctx, &mc); err != nil {
			t.Fatal(err)
		}
		weft("mesh", "upgrade", "--mesh-name", "blue", "--osm-namespace", "blue-system", "--set", "replicaCount=2", "--timeout=2m")
		var d appsv1.Deployment
		exists(&d, "blue-system", "weftd")
		if *d.Spec.Replicas != 2 || d.Labels["weft.io/enforce-single-mesh"] != "false" {
			t.Errorf("after upgrade: replicas %d, labels %v", *d.Spec.Replicas, d.Labels)
		}
		exists(&mc, "blue-system", "osm-mesh-config")
		if mc.Spec.Sidecar.LogLevel != "debug" {
			t.Errorf("the upgrade undid a live MeshConfig edit: logLevel %q", mc.Spec.Sidecar.LogLevel)
		}
		if _, err := run("", "mesh", "upgrade", "--mesh-name", "red", "--osm-namespace", "red-system"); err == nil || !strings.Contains(err.Error(), "no mesh red") {
			t.Errorf("upgrading a mesh that is not installed: %v", err)
		}
	})

	t.Run("a rerun of install applies what it is given", func(t *testing.T) {
		weft("install", "--mesh-name", "blue", "--osm-namespace", "blue-system", "--enforce-single-mesh=false", "--set", "osm.osmController.replicaCount=3", "--timeout=2m")
		var d appsv1.Deployment
		if exists(&d, "blue-system", "weftd"); *d.Spec.Replicas != 3 {
			t.Errorf("replicas %d after a rerun with osm.osmController.replicaCount=3", *d.Spec.Replicas)
		}
	})

	// Secrets weftd would have written for each mesh.
	for _, s := range []*corev1.Secret{
		{ObjectMeta: metav1.ObjectMeta{Name: "envoy-bootstrap-config-b", Namespace: "blue-system", Labels: map[string]string{"app.kubernetes.io/managed-by": "weft", mesh.LabelMeshName: "blue"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "envoy-bootstrap-config-g", Namespace: "green-system", Labels: map[string]string{"app.kubernetes.io/managed-by": "weft", mesh.LabelMeshName: "green"}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "osm-ca-bundle", Namespace: "green-system", Labels: map[string]string{"app.kubernetes.io/managed-by": "weft", "app.kubernetes.io/component": "ca-root"}}},
	} {
		if err := env.Client.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("uninstall asks, and removes only its mesh's objects", func(t *testing.T) {
		out, err := run("n\n", "uninstall", "mesh", "--mesh-name", "blue")
		if err != nil || !strings.Contains(out, "Uninstall Weft [mesh name: blue] in namespace [blue-system]") || !exists(&appsv1.Deployment{}, "blue-system", "weftd") {
			t.Fatalf("answering n: %v\n%s", err, out)
		}
		if out, err := run("y\n", "uninstall", "mesh", "--mesh-name", "blue"); err != nil {
			t.Fatalf("answering y: %v\n%s", err, out)
		}
		if exists(&appsv1.Deployment{}, "blue-system", "weftd") || exists(&admissionregistrationv1.MutatingWebhookConfiguration{}, "", mesh.MutatingWebhookName("blue")) ||
			exists(&corev1.Secret{}, "blue-system", "envoy-bootstrap-config-b") || exists(&configv1alpha2.MeshConfig{}, "blue-system", "osm-mesh-config") {
			t.Error("blue's control plane, webhook, MeshConfig or bootstrap Secret is left")
		}
		if !exists(&corev1.Secret{}, "blue-system", "osm-ca-bundle") {
			t.Error("uninstall without -a deleted the root")
		}
		if !exists(&appsv1.Deployment{}, "green-system", "weftd") || !exists(&admissionregistrationv1.MutatingWebhookConfiguration{}, "", mesh.MutatingWebhookName("green")) ||
			!exists(&corev1.Secret{}, "green-system", "envoy-bootstrap-config-g") {
			t.Error("uninstalling blue touched green")
		}
	})

	t.Run("uninstall -f -a --delete-namespace leaves nothing the installs made", func(t *testing.T) {
		out := weft("uninstall", "mesh", "--mesh-name", "blue", "--osm-namespace", "blue-system", "-f", "-a", "--delete-namespace")
		if !strings.Contains(out, "The CRDs are kept: mesh green in namespace green-system still use them") {
			t.Errorf("output:\n%s", out)
		}
		out = weft("uninstall", "mesh", "-f", "-a", "--delete-namespace")
		if !strings.Contains(out, "CRDs deleted") {
			t.Errorf("output:\n%s", out)
		}
		leftovers(t)
	})
}

// standInKubelet marks weftd's pods running and ready at podIP, while on is
// true.
func standInKubelet(ctx context.Context, c client.Client, on *atomic.Bool, podIP string) {
	for ctx.Err() == nil {
		time.Sleep(200 * time.Millisecond)
		if !on.Load() {
			continue
		}
		var pods corev1.PodList
		if c.List(ctx, &pods, client.MatchingLabels{"app.kubernetes.io/name": "weftd"}) != nil {
			continue
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Status.Phase == corev1.PodRunning || p.DeletionTimestamp != nil {
				continue
			}
			now := metav1.Now()
			p.Status.Phase = corev1.PodRunning
			p.Status.PodIP, p.Status.PodIPs = podIP, []corev1.PodIP{{IP: podIP}}
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: now}}
			_ = c.Status().Update(ctx, p)
		}
	}
}

// clusterObjects lists every object of every listable resource, but events
// and the control plane's own leases, as "resource namespace/name".
func clusterObjects(t *testing.T, env *testenv.Env) map[string]bool {
	t.Helper()
	cfg := rest.CopyConfig(env.Config)
	cfg.WarningHandler = rest.NoWarnings{} // deprecated kinds are listed too
	disc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lists, err := disc.ServerPreferredResources()
	if err != nil && len(lists) == 0 {
		t.Fatal(err)
	}
	out := map[string]bool{}
	for _, list := range lists {
		gv, err := schema.ParseGroupVersion(list.GroupVersion)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range list.APIResources {
			if !slices.Contains(r.Verbs, "list") || strings.Contains(r.Name, "/") || r.Name == "events" {
				continue
			}
			items, err := dyn.Resource(gv.WithResource(r.Name)).List(t.Context(), metav1.ListOptions{})
			if err != nil {
				continue // a CRD deleted meanwhile
			}
			for _, item := range items.Items {
				if r.Name == "leases" && strings.HasPrefix(item.GetNamespace(), "kube-") {
					continue
				}
				out[r.Name+"."+gv.Group+" "+item.GetNamespace()+"/"+item.GetName()] = true
			}
		}
	}
	return out
}

func unstructuredBool(obj map[string]any, path ...string) (bool, bool, error) {
	m := obj
	for _, p := range path[:len(path)-1] {
		next, ok := m[p].(map[string]any)
		if !ok {
			return false, false, nil
		}
		m = next
	}
	v, ok := m[path[len(path)-1]].(bool)
	return v, ok, nil
}

// selfSignedCA is a root as weftd's would be, PEM encoded.
func selfSignedCA(t *testing.T) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test mesh root"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(365 * 24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
