package e2e

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/internal/meshrun"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/proxyless"
)

// TestProxylessOnTheAPIServer runs proxyless gRPC workloads through the
// injector on a real API server: pods annotated weft.dev/proxyless: grpc come
// out of admission with no sidecar but their bootstrap Secret mounted and
// GRPC_XDS_BOOTSTRAP set; weftd writes the Secret (gRPC bootstrap, proxy and
// service certificates); and processes started from those Secrets' files, as
// the kubelet would mount them, call each other through the mesh. No kubelet
// runs here, so the test gives the pods their IPs and the EndpointSlice.
func TestProxylessOnTheAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.WithControllerManager(),
		testenv.WithWebhooks("manifests/webhooks/validating.yaml", "manifests/webhooks/mutating.yaml"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	env.ApplyFiles(t, "examples/osm-system-namespace.yaml")
	xdsPort := startWeftd(t, ctx, env, true)
	env.ApplyFiles(t, "demo/mesh/meshconfig.yaml") // permissive mode

	work := t.TempDir()
	bins, err := meshrun.Build(ctx, env.RepoRoot, work)
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range []string{"bookstore", "bookbuyer"} {
		create(t, env, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels:      map[string]string{injector.LabelMonitoredBy: "osm"},
			Annotations: map[string]string{injector.AnnotationSidecarInjection: "enabled"}}})
		create(t, env, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: ns}})
	}
	create(t, env, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bookstore", Name: "bookstore"},
		Spec: corev1.ServiceSpec{Selector: map[string]string{"app": "bookstore"}, Ports: []corev1.ServicePort{
			{Name: "grpc", Port: 14001, TargetPort: intstr.FromInt32(14001), AppProtocol: ptr.To("grpc")},
		}},
	})
	// The API server refuses loopback addresses in EndpointSlices: bookstore
	// serves on this machine's own address; bookbuyer only calls, from
	// wherever.
	storeIP := hostIPv4(t)
	store := createProxylessPod(t, env, "bookstore", "bookstore-v1", "bookstore", storeIP)
	buyer := createProxylessPod(t, env, "bookbuyer", "bookbuyer", "bookbuyer", "10.244.2.1")
	// The EndpointSlice controller skips pods on no Node; with no kubelet
	// there is none, so the test writes the slice it would.
	create(t, env, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Namespace: "bookstore", Name: "bookstore-pods", Labels: map[string]string{discoveryv1.LabelServiceName: "bookstore"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To("grpc"), Port: ptr.To[int32](14001), AppProtocol: ptr.To("grpc")}},
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{storeIP}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "bookstore", Name: store.Name, UID: store.UID},
		}},
	})

	server, err := meshrun.StartProcess(filepath.Join(work, "bookstore.log"), []string{injector.ProxylessBootstrapEnv + "=" + mountSecret(t, ctx, env, store, work)},
		bins.BookApp, "serve", "--name", "bookstore-v1", "--listen", net.JoinHostPort(storeIP, "14001"))
	if err != nil {
		t.Fatal(err)
	}
	defer server.Stop()
	if _, err := server.WaitLine(ctx, func(l string) bool { return strings.HasPrefix(l, "serving ") }); err != nil {
		t.Fatalf("bookstore-v1 did not start serving: %v", err)
	}
	caller, err := meshrun.StartProcess(filepath.Join(work, "bookbuyer.log"), []string{injector.ProxylessBootstrapEnv + "=" + mountSecret(t, ctx, env, buyer, work)},
		bins.BookApp, "call", "--target", meshrun.BookstoreTarget, "--rate", "50")
	if err != nil {
		t.Fatal(err)
	}
	defer caller.Stop()
	wait, cancelWait := context.WithTimeout(ctx, 30*time.Second)
	defer cancelWait()
	_, before, err := caller.WaitFor(wait, 20, func(c meshrun.Call) bool { return c.OK && c.Server == "bookstore-v1" })
	if err != nil {
		t.Fatalf("bookbuyer never reached bookstore-v1 (ADS on port %d): %v; calls before: %s", xdsPort, err, before)
	}
	t.Logf("bookbuyer reached bookstore-v1 through the mesh after %d failed calls", len(before))
}

// hostIPv4 is an address of this machine that is not loopback.
func hostIPv4(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Fatal("this test needs an IPv4 address on this machine that is not loopback: the API server refuses loopback addresses in EndpointSlices")
	return ""
}

func create(t *testing.T, env *testenv.Env, obj client.Object) {
	t.Helper()
	if err := env.Client.Create(context.Background(), obj); err != nil {
		t.Fatalf("creating %T %s: %v", obj, obj.GetName(), err)
	}
}

// createProxylessPod creates a proxyless pod, checks what admission made of
// it, and gives it the IP and Ready condition a kubelet would.
func createProxylessPod(t *testing.T, env *testenv.Env, namespace, name, app, ip string) *corev1.Pod {
	t.Helper()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name, Labels: map[string]string{"app": app},
			Annotations: map[string]string{proxyless.Annotation: proxyless.KindGRPC}},
		Spec: corev1.PodSpec{ServiceAccountName: namespace, Containers: []corev1.Container{{
			Name: "app", Image: "bookapp", Ports: []corev1.ContainerPort{{Name: "grpc", ContainerPort: 14001}},
		}}},
	}
	create(t, env, pod)
	if pod.Labels[injector.LabelProxyUUID] == "" || len(pod.Spec.Containers) != 1 || len(pod.Spec.InitContainers) != 0 {
		t.Fatalf("pod %s/%s after admission: labels %v, %d containers, %d init containers; want the proxy UUID label, no sidecar and no init container",
			namespace, name, pod.Labels, len(pod.Spec.Containers), len(pod.Spec.InitContainers))
	}
	c := pod.Spec.Containers[0]
	if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool {
		return e.Name == injector.ProxylessBootstrapEnv && e.Value == injector.ProxylessMountPath+"/"+proxyless.BootstrapFile
	}) || !slices.ContainsFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == injector.ProxylessMountPath && m.ReadOnly }) {
		t.Fatalf("pod %s/%s's container after admission: env %v, mounts %v; want %s and the bootstrap Secret at %s",
			namespace, name, c.Env, c.VolumeMounts, injector.ProxylessBootstrapEnv, injector.ProxylessMountPath)
	}
	pod.Status.PodIP = ip
	pod.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	pod.Status.Phase = corev1.PodRunning
	pod.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if err := env.Client.Status().Update(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

// mountSecret waits for the pod's bootstrap Secret and writes its files
// where a process here can read them, as the kubelet mounts them at
// injector.ProxylessMountPath; it returns the bootstrap's path.
func mountSecret(t *testing.T, ctx context.Context, env *testenv.Env, pod *corev1.Pod, work string) string {
	t.Helper()
	key := client.ObjectKey{Namespace: pod.Namespace, Name: injector.BootstrapSecretName(pod.Labels[injector.LabelProxyUUID])}
	var secret corev1.Secret
	testenv.Eventually(t, "the bootstrap Secret of "+pod.Name, func() bool {
		return env.Client.Get(ctx, key, &secret) == nil
	})
	dir := filepath.Join(work, "mounts", pod.Namespace, pod.Name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range secret.Data {
		if name == proxyless.BootstrapFile {
			data = []byte(strings.ReplaceAll(string(data), injector.ProxylessMountPath, dir))
		}
		if err := os.WriteFile(filepath.Join(dir, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, proxyless.BootstrapFile)
}
