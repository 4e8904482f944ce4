package e2e

import (
	"bytes"
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

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/internal/atomicfile"
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
		testenv.WithWebhooks(testenv.ValidatingWebhooks, testenv.MutatingWebhooks))
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
	storeIP := testenv.HostIPv4(t)
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

	storeBoot, buyerBoot := mountSecret(t, ctx, env, store, work), mountSecret(t, ctx, env, buyer, work)
	// The kubelet keeps a Secret volume current: so does the test.
	kubelet, stopKubelet := context.WithCancel(ctx)
	defer stopKubelet()
	for _, pod := range []*corev1.Pod{store, buyer} {
		go func() {
			for kubelet.Err() == nil {
				syncSecret(kubelet, env, pod, work)
				time.Sleep(200 * time.Millisecond)
			}
		}()
	}
	server, err := meshrun.StartProcess(filepath.Join(work, "bookstore.log"), []string{injector.ProxylessBootstrapEnv + "=" + storeBoot},
		bins.BookApp, "serve", "--name", "bookstore-v1", "--listen", net.JoinHostPort(storeIP, "14001"))
	if err != nil {
		t.Fatal(err)
	}
	defer server.Stop()
	if _, err := server.WaitLine(ctx, func(l string) bool { return strings.HasPrefix(l, "serving ") }); err != nil {
		t.Fatalf("bookstore-v1 did not start serving: %v", err)
	}
	caller, err := meshrun.StartProcess(filepath.Join(work, "bookbuyer.log"), []string{injector.ProxylessBootstrapEnv + "=" + buyerBoot},
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

	t.Run("the root rotates under steady traffic and no call fails", func(t *testing.T) {
		rotateRootUnderTraffic(t, ctx, env, []*corev1.Pod{store, buyer}, caller)
		// A new connection handshakes with what the files hold now: leaves
		// of the new root, checked against the new root alone.
		fresh, err := meshrun.StartProcess(filepath.Join(work, "bookbuyer-after.log"), []string{injector.ProxylessBootstrapEnv + "=" + buyerBoot},
			bins.BookApp, "call", "--target", meshrun.BookstoreTarget, "--rate", "50", "--count", "20")
		if err != nil {
			t.Fatal(err)
		}
		defer fresh.Stop()
		calls, err := fresh.Calls(ctx, 20)
		if err != nil || len(calls.Failures()) > 0 {
			t.Errorf("a new bookbuyer after the rotation: %s (%v), want every call OK", calls, err)
		}
	})
}

// rotateRootUnderTraffic runs docs/root-rotation.md's three steps on the
// mesh root's Secret while caller keeps calling, waiting after each until
// the pods' files hold the change and gRPC has reread them, and fails on any
// failed call.
func rotateRootUnderTraffic(t *testing.T, ctx context.Context, env *testenv.Env, pods []*corev1.Pod, caller *meshrun.Process) {
	t.Helper()
	key := client.ObjectKey{Namespace: "osm-system", Name: "osm-ca-bundle"}
	var root corev1.Secret
	if err := env.Client.Get(ctx, key, &root); err != nil {
		t.Fatal(err)
	}
	next, err := internalca.NewRoot("weft mesh root 2", internalca.DefaultRootValidity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	newCrt, newKey, newBundle, err := next.Encode()
	if err != nil {
		t.Fatal(err)
	}
	oldBundle := root.Data["ca.crt"]
	var calls meshrun.Calls
	step := func(name string, data map[string][]byte, done func(files map[string][]byte) bool) {
		start := time.Now()
		if err := env.Client.Get(ctx, key, &root); err != nil {
			t.Fatal(err)
		}
		for k, v := range data {
			root.Data[k] = v
		}
		if err := env.Client.Update(ctx, &root); err != nil {
			t.Fatal(err)
		}
		for _, pod := range pods {
			for !done(podFiles(t, ctx, env, pod)) {
				read, err := readCalls(ctx, caller, time.Second)
				calls = append(calls, read...)
				if err != nil || time.Since(start) > time.Minute {
					t.Fatalf("%s: pod %s's files did not follow (%v)", name, pod.Name, err)
				}
			}
		}
		// gRPC rereads its files every 10 s.
		read, err := readCalls(ctx, caller, 11*time.Second)
		calls = append(calls, read...)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: in the pods' files %v after the edit", name, time.Since(start).Round(time.Second))
	}
	both := append(append([]byte{}, oldBundle...), newBundle...)
	step("1. trust the new root", map[string][]byte{"ca.crt": both}, func(f map[string][]byte) bool {
		return bytes.Equal(f["ca.crt"], both)
	})
	step("2. sign with the new root", map[string][]byte{"tls.crt": newCrt, "tls.key": newKey}, func(f map[string][]byte) bool {
		return signedBy(f["tls.crt"], next) && signedBy(f["xds.crt"], next)
	})
	step("3. drop the old root", map[string][]byte{"ca.crt": newBundle}, func(f map[string][]byte) bool {
		return bytes.Equal(f["ca.crt"], newBundle)
	})
	if f := calls.Failures(); len(calls) == 0 || len(f) > 0 {
		t.Errorf("%d calls during the rotation, %d failed: %s", len(calls), len(f), f)
	}
	t.Logf("%d calls during the rotation: %s", len(calls), calls)
}

// readCalls reads the caller's calls for d.
func readCalls(ctx context.Context, caller *meshrun.Process, d time.Duration) (meshrun.Calls, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var out meshrun.Calls
	for {
		c, err := caller.NextCall(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return out, nil
			}
			return out, err
		}
		out = append(out, c)
	}
}

func signedBy(pemChain []byte, root *internalca.RootSet) bool {
	chain, err := ca.ParseCertificatesPEM(pemChain)
	return err == nil && chain[0].CheckSignatureFrom(root.Signing.Cert) == nil
}

// podFiles is the pod's bootstrap Secret's data.
func podFiles(t *testing.T, ctx context.Context, env *testenv.Env, pod *corev1.Pod) map[string][]byte {
	t.Helper()
	var secret corev1.Secret
	key := client.ObjectKey{Namespace: pod.Namespace, Name: injector.BootstrapSecretName(pod.Labels[injector.LabelProxyUUID])}
	if err := env.Client.Get(ctx, key, &secret); err != nil {
		t.Fatal(err)
	}
	return secret.Data
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
	if err := writeMount(secret.Data, mountDir(pod, work)); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(mountDir(pod, work), proxyless.BootstrapFile)
}

func mountDir(pod *corev1.Pod, work string) string {
	return filepath.Join(work, "mounts", pod.Namespace, pod.Name)
}

// syncSecret copies the pod's Secret into its mount again, as the kubelet
// does when a Secret changes.
func syncSecret(ctx context.Context, env *testenv.Env, pod *corev1.Pod, work string) {
	var secret corev1.Secret
	key := client.ObjectKey{Namespace: pod.Namespace, Name: injector.BootstrapSecretName(pod.Labels[injector.LabelProxyUUID])}
	if env.Client.Get(ctx, key, &secret) == nil {
		_ = writeMount(secret.Data, mountDir(pod, work))
	}
}

// writeMount writes a Secret's files into dir, each replaced whole, the
// bootstrap naming dir where the pod would have the mount path.
func writeMount(data map[string][]byte, dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for name, content := range data {
		if name == proxyless.BootstrapFile {
			content = []byte(strings.ReplaceAll(string(content), injector.ProxylessMountPath, dir))
		}
		if err := atomicfile.Write(dir, name, content); err != nil {
			return err
		}
	}
	return nil
}
