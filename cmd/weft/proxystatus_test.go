//lint:file-ignore SA1019 the API server's service proxy reads Endpoints, not EndpointSlices

package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/uuid"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/internal/adstest"
	"github.com/weft-mesh/weft/internal/meshrun"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/identity"
)

// bookbuyerPod is a bookbuyer pod whose proxy ID is its osm-proxy-uuid label,
// as the injector labels it.
const bookbuyerPod = `apiVersion: v1
kind: Pod
metadata:
  name: bookbuyer-1
  namespace: bookbuyer
  labels:
    app: bookbuyer
    osm-proxy-uuid: PROXY
spec:
  serviceAccountName: bookbuyer
  containers:
  - name: bookbuyer
    image: bookbuyer
`

// TestProxyStatusThroughTheAPIServer runs weftd (the binary, on files) with
// its health listener on this host's non-loopback address, a bookbuyer proxy
// that ACKs and a bookstore proxy that NACKs its clusters, and a real API
// server holding a weftd Pod (and then a Service) at that address: `weft
// proxy status` reads the status through the API server's pod proxy (and
// service proxy) and shows the first SYNCED with its pod, the second NACKED
// with its message.
func TestProxyStatusThroughTheAPIServer(t *testing.T) {
	hostIP := testenv.HostIPv4(t)
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	weftd := filepath.Join(work, "weftd")
	build := exec.Command("go", "build", "-o", weftd, "./cmd/weftd")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/weftd: %v\n%s", err, out)
	}
	files, state := filepath.Join(work, "files"), filepath.Join(work, "state")
	if err := os.CopyFS(files, os.DirFS(filepath.Join(root, "examples", "bookstore"))); err != nil {
		t.Fatal(err)
	}
	podProxy := uuid.NewString()
	if err := os.WriteFile(filepath.Join(files, "pod.yaml"), []byte(strings.Replace(bookbuyerPod, "PROXY", podProxy, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	// Free on every address, so that none is taken twice.
	ports := testenv.FreePorts(t, "", 3)
	loopback := ports[1:]
	health := net.JoinHostPort(hostIP, strconv.Itoa(ports[0]))
	p, err := meshrun.StartProcess(filepath.Join(work, "weftd.log"), []string{"KUBECONFIG=" + filepath.Join(work, "none")}, weftd,
		"--files", files, "--state-dir", state, "--xds-port", strconv.Itoa(loopback[0]),
		"--health-addr", health, "--debug-addr", "127.0.0.1:"+strconv.Itoa(loopback[1]),
		"--coalesce-quiet", "20ms", "--coalesce-max-delay", "200ms")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Stop()
		if t.Failed() {
			log, _ := os.ReadFile(p.LogPath)
			t.Logf("weftd's log:\n%s", log)
		}
	})
	testenv.Eventually(t, "weftd is ready", func() bool {
		resp, err := http.Get("http://" + health + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	defer func(port string) { weftdHealthPort = port }(weftdHealthPort)
	weftdHealthPort = strconv.Itoa(ports[0])

	// Two proxies with certificates from the root weftd wrote.
	manager := managerFromState(t, state)
	xdsAddr := "127.0.0.1:" + strconv.Itoa(loopback[0])
	syncing := ca.Proxy{ID: podProxy, Kind: ca.ProxySidecar, Identity: identity.Identity{Namespace: "bookbuyer", ServiceAccount: "bookbuyer"}}
	a := adstest.Dial(t, context.Background(), xdsAddr, adstest.ProxyPair(t, manager, syncing), manager.BundlePool(), syncing.CommonName(identity.DefaultTrustDomain))
	for _, typ := range []string{resource.ClusterType, resource.ListenerType} {
		a.Await(t, typ, nil, func(*discovery.DiscoveryResponse) bool { return true })
	}
	rejecting := ca.Proxy{ID: uuid.NewString(), Kind: ca.ProxySidecar, Identity: identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}}
	b := adstest.Dial(t, context.Background(), xdsAddr, adstest.ProxyPair(t, manager, rejecting), manager.BundlePool(), rejecting.CommonName(identity.DefaultTrustDomain))
	rejected := b.Reject(t, resource.ClusterType, nil, "cluster bookstore/bookstore-v1|14001:\n  bad")

	// weftd's Pod, as the API server sees it: Running at hostIP.
	env := testenv.Start(t)
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "osm-system"}}); err != nil {
		t.Fatal(err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "weftd-0", Namespace: "osm-system", Labels: map[string]string{"app.kubernetes.io/name": "weftd"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "weftd", Image: "weftd"}}},
	}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: hostIP, PodIPs: []corev1.PodIP{{IP: hostIP}}}
	if err := env.Client.Status().Update(ctx, pod); err != nil {
		t.Fatal(err)
	}
	proxyCmd := func(args ...string) (string, string, error) {
		parent := &cobra.Command{Use: "proxy"}
		parent.AddCommand(newProxyStatusCommand())
		var out, errOut bytes.Buffer
		parent.SetArgs(append(append([]string{"status"}, args...), "--kubeconfig", env.KubeconfigPath))
		parent.SetOut(&out)
		parent.SetErr(&errOut)
		parent.SilenceUsage = true
		err := parent.Execute()
		return out.String(), errOut.String(), err
	}

	t.Run("the table shows the proxy in sync with its pod, and the NACKed one with the proxy's message", func(t *testing.T) {
		var out string
		testenv.Eventually(t, "both proxies have answered", func() bool {
			var err error
			out, _, err = proxyCmd()
			return err == nil && strings.Contains(out, "NACKED") && !strings.Contains(out, "STALE")
		})
		t.Logf("weft proxy status:\n%s", out)
		lines := strings.Split(out, "\n")
		if got := strings.Join(strings.Fields(lines[0]), " "); got != "POD IDENTITY KIND CDS LDS EDS RDS SDS VERSION" {
			t.Errorf("header %q", got)
		}
		want := []string{
			`^bookbuyer/bookbuyer-1 +bookbuyer/bookbuyer +sidecar +SYNCED +SYNCED +NOT SENT +NOT SENT +NOT SENT +[0-9a-f]{12}$`,
			`^bookstore/\? +bookstore/bookstore +sidecar +NACKED +NOT SENT +NOT SENT +NOT SENT +NOT SENT +-$`,
		}
		for i, re := range want {
			if !matches(re, lines[1+i]) {
				t.Errorf("line %d = %q, want %s", 1+i, lines[1+i], re)
			}
		}
		if msg := "bookstore/?: CDS version " + rejected.GetVersionInfo() + ": cluster bookstore/bookstore-v1|14001: bad"; !strings.Contains(out, msg) {
			t.Errorf("no %q in:\n%s", msg, out)
		}
	})

	t.Run("a pod by name, as JSON, names the replica that holds its stream", func(t *testing.T) {
		out, _, err := proxyCmd("bookbuyer-1", "-n", "bookbuyer", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var got []replicaStatus
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("%v in %s", err, out)
		}
		if len(got) != 1 || got[0].ID != podProxy || got[0].Replica != "weftd-0" || got[0].Types["CDS"].Acked == "" {
			t.Errorf("got %+v, want bookbuyer-1's proxy through weftd-0", got)
		}
	})

	t.Run("-o wide puts the NACK message in a column", func(t *testing.T) {
		out, _, err := proxyCmd("-n", "bookstore", "-o", "wide")
		if err != nil {
			t.Fatal(err)
		}
		if lines := strings.Split(strings.TrimSpace(out), "\n"); len(lines) != 2 || !strings.Contains(lines[1], rejecting.ID) ||
			!strings.HasSuffix(lines[1], "weftd-0   CDS version "+rejected.GetVersionInfo()+": cluster bookstore/bookstore-v1|14001: bad") {
			t.Errorf("got:\n%s", out)
		}
	})

	t.Run("a pod without a connected proxy is an error", func(t *testing.T) {
		if _, _, err := proxyCmd("bookbuyer-2", "-n", "bookbuyer"); err == nil || !strings.Contains(err.Error(), "bookbuyer/bookbuyer-2 has no proxy") {
			t.Errorf("error = %v", err)
		}
		// Without -n, the kubeconfig context's namespace, here none: default.
		if _, _, err := proxyCmd("bookbuyer-1"); err == nil || !strings.Contains(err.Error(), "pod default/bookbuyer-1 has no proxy") {
			t.Errorf("error = %v", err)
		}
	})

	t.Run("with no weftd pod listed, the Service is read", func(t *testing.T) {
		// A Pending pod is not asked; the Service's address must still be a
		// pod's: the API server's service proxy reads the v1 Endpoints and
		// proxies only to addresses whose targetRef is a pod with that IP.
		pod.Status.Phase = corev1.PodPending
		if err := env.Client.Status().Update(ctx, pod); err != nil {
			t.Fatal(err)
		}
		port := int32(ports[0])
		svc := &corev1.Service{
			ObjectMeta: metav1.ObjectMeta{Name: "weftd", Namespace: "osm-system"},
			Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "http-metrics", Port: port, TargetPort: intstr.FromInt32(port)}},
				Selector: map[string]string{"app.kubernetes.io/name": "weftd"}},
		}
		if err := env.Client.Create(ctx, svc); err != nil {
			t.Fatal(err)
		}
		endpoints := &corev1.Endpoints{
			ObjectMeta: metav1.ObjectMeta{Name: "weftd", Namespace: "osm-system"},
			Subsets: []corev1.EndpointSubset{{
				Addresses: []corev1.EndpointAddress{{IP: hostIP, TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: "osm-system", Name: pod.Name}}},
				Ports:     []corev1.EndpointPort{{Name: "http-metrics", Port: port}},
			}},
		}
		if err := env.Client.Create(ctx, endpoints); err != nil {
			t.Fatal(err)
		}
		var out string
		var last error
		deadline := time.Now().Add(10 * time.Second)
		for {
			if out, _, last = proxyCmd("bookbuyer-1", "-n", "bookbuyer"); last == nil || time.Now().After(deadline) {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if last != nil {
			t.Fatal(last)
		}
		if !strings.Contains(out, "bookbuyer/bookbuyer-1") || !strings.Contains(out, "SYNCED") {
			t.Errorf("got:\n%s", out)
		}
	})

	t.Run("the error names weftd's Service and the mesh namespace when it cannot be reached", func(t *testing.T) {
		_, _, err := proxyCmd("--mesh-namespace", "no-mesh-here")
		if err == nil || !strings.Contains(err.Error(), "Service no-mesh-here/weftd") || !strings.Contains(err.Error(), "--mesh-namespace") {
			t.Errorf("error = %v", err)
		}
	})
}

func matches(re, s string) bool {
	ok, err := regexp.MatchString(re, s)
	return err == nil && ok
}

// managerFromState is a CA signing with the root weftd keeps in its state
// folder, as the injector inside weftd would.
func managerFromState(t *testing.T, state string) *ca.Manager {
	t.Helper()
	var pem [2][]byte
	for i, name := range []string{internalca.KeyCert, internalca.KeyKey} {
		var err error
		if pem[i], err = os.ReadFile(filepath.Join(state, name)); err != nil {
			t.Fatal(err)
		}
	}
	roots, err := internalca.ParseRootSet(pem[0], pem[1], nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	manager, err := ca.NewManager(ca.Options{Signer: internalca.New(roots, nil), TrustDomain: identity.DefaultTrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	return manager
}

func TestMergeKeepsEachProxysNewestStream(t *testing.T) {
	at := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	status := func(id, pod, replica string, since time.Duration) replicaStatus {
		s := replicaStatus{Replica: replica}
		s.ID, s.PodNamespace, s.PodName, s.ConnectedSince = id, "bookstore", pod, at.Add(since)
		s.Identity = identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}
		return s
	}
	got := merge([]replicaStatus{
		status("b", "bookstore-2", "weftd-0", 0),
		status("a", "bookstore-1", "weftd-0", 0),
		// Moved to weftd-1 while the replicas were read.
		status("b", "bookstore-2", "weftd-1", time.Minute),
	})
	var rows []string
	for _, s := range got {
		rows = append(rows, s.PodName+"@"+s.Replica)
	}
	if want := "bookstore-1@weftd-0 bookstore-2@weftd-1"; strings.Join(rows, " ") != want {
		t.Errorf("merged %v, want %s", rows, want)
	}
}
