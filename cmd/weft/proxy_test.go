package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/internal/kwoktest"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/proxyless"
)

// TestProxyGetThroughTheAPIServer runs `weft proxy get` against a real API
// server whose pods/portforward reaches kwok, the kubelet stand-in, which
// forwards the pod's admin port 15000 to a local server playing Envoy's admin
// interface. The answer goes API server → kwok → local server and back.
func TestProxyGetThroughTheAPIServer(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	c := kubernetes.NewForConfigOrDie(env.Config)

	admin := httptest.NewServer(fakeEnvoyAdmin())
	t.Cleanup(admin.Close)
	// A port nothing listens on, for the pod whose sidecar is down.
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedAddr := closed.Addr().String()
	closed.Close()

	const ns = "bookbuyer"
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kwok := kwoktest.Start(t, env.KubeconfigPath,
		kwoktest.Forward{Namespace: ns, Pod: "bookbuyer-1", Port: envoy.AdminPort, Address: admin.Listener.Addr().String()},
		kwoktest.Forward{Namespace: ns, Pod: "sidecar-down", Port: envoy.AdminPort, Address: closedAddr})
	kwok.AddNode(t, c, "kwok-node-1")

	pods := []*corev1.Pod{
		meshedPod(ns, "bookbuyer-1"),
		meshedPod(ns, "sidecar-down"),
		func() *corev1.Pod { // created in a namespace that was not in the mesh
			p := meshedPod(ns, "not-injected")
			delete(p.Labels, injector.LabelProxyUUID)
			p.Spec.Containers = p.Spec.Containers[:1]
			return p
		}(),
		func() *corev1.Pod { // the label without the sidecar
			p := meshedPod(ns, "no-sidecar")
			p.Spec.Containers = p.Spec.Containers[:1]
			return p
		}(),
		func() *corev1.Pod {
			p := meshedPod(ns, "grpc-1")
			p.Annotations = map[string]string{proxyless.Annotation: proxyless.KindGRPC}
			p.Spec.Containers = p.Spec.Containers[:1]
			return p
		}(),
	}
	for _, p := range pods {
		if _, err := c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		kwoktest.WaitRunning(t, c, ns, p.Name)
	}
	// On a node no kubelet runs: it stays Pending.
	pending := meshedPod(ns, "pending")
	pending.Spec.NodeName = "no-such-node"
	if _, err := c.CoreV1().Pods(ns).Create(ctx, pending, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	weft := func(args ...string) (string, error) {
		var out, errOut bytes.Buffer
		cmd := newRootCommand()
		cmd.SetArgs(append(args, "--kubeconfig", env.KubeconfigPath))
		cmd.SetOut(&out)
		cmd.SetErr(&errOut)
		err := cmd.Execute()
		return out.String(), err
	}

	for _, query := range []string{"config_dump", "stats", "clusters", "listeners", "ready", "logging", "certs", "server_info"} {
		t.Run("get "+query+" returns the sidecar's answer", func(t *testing.T) {
			out, err := weft("proxy", "get", query, "bookbuyer-1", "-n", ns)
			if err != nil {
				t.Fatal(err)
			}
			if want := adminAnswer("/" + query); out != want {
				t.Errorf("got %q, want %q", out, want)
			}
		})
	}

	t.Run("a query's parameters reach Envoy", func(t *testing.T) {
		out, err := weft("proxy", "get", "stats?format=json&filter=cluster", "bookbuyer-1", "-n", ns)
		if err != nil || out != adminAnswer("/stats?format=json&filter=cluster") {
			t.Errorf("%v: %q", err, out)
		}
	})

	t.Run("-f writes the answer to a file", func(t *testing.T) {
		file := filepath.Join(t.TempDir(), "clusters.txt")
		out, err := weft("proxy", "get", "clusters", "bookbuyer-1", "-n", ns, "-f", file)
		if err != nil || out != "" {
			t.Fatalf("%v: %q", err, out)
		}
		got, err := os.ReadFile(file)
		if err != nil || string(got) != adminAnswer("/clusters") {
			t.Errorf("%v: %q", err, got)
		}
	})

	t.Run("-n defaults to the kubeconfig context's namespace", func(t *testing.T) {
		kubeconfig := withContextNamespace(t, env.KubeconfigPath, ns)
		var out bytes.Buffer
		cmd := newRootCommand()
		cmd.SetArgs([]string{"proxy", "get", "ready", "bookbuyer-1", "--kubeconfig", kubeconfig})
		cmd.SetOut(&out)
		if err := cmd.Execute(); err != nil || out.String() != adminAnswer("/ready") {
			t.Errorf("%v: %q", err, out.String())
		}
	})

	t.Run("SPDY alone, for an API server without WebSockets, works too", func(t *testing.T) {
		pod, err := c.CoreV1().Pods(ns).Get(ctx, "bookbuyer-1", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		body, err := portForwarder{config: env.Config, client: c, spdyOnly: true}.Get(ctx, pod, "/config_dump")
		if err != nil || string(body) != adminAnswer("/config_dump") {
			t.Errorf("%v: %q", err, body)
		}
	})

	refusals := []struct {
		name, pod, query, want string
	}{
		{"an unknown admin path is Envoy's 404, an error", "bookbuyer-1", "no_such_thing", "404 Not Found: invalid path"},
		{"a pod without the proxy label is refused", "not-injected", "config_dump", "pod bookbuyer/not-injected is not in a mesh: it has no osm-proxy-uuid label"},
		{"a pod without the envoy container is refused", "no-sidecar", "config_dump", `pod bookbuyer/no-sidecar is not in a mesh: it has no "envoy" sidecar container`},
		{"a proxyless pod is refused", "grpc-1", "config_dump", "proxyless gRPC workload"},
		{"a pod that is not running is refused", "pending", "config_dump", `pod bookbuyer/pending is not running (phase "Pending")`},
		{"a missing pod is named", "nobody", "config_dump", "no pod nobody in namespace bookbuyer"},
		{"a sidecar that does not listen gives the kubelet's reason", "sidecar-down", "config_dump", "port-forward to port 15000"},
	}
	for _, tt := range refusals {
		t.Run(tt.name, func(t *testing.T) {
			out, err := weft("proxy", "get", tt.query, tt.pod, "-n", ns)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v (out %q), want it to contain %q", err, out, tt.want)
			}
		})
	}
}

// fakeEnvoyAdmin answers as Envoy's admin interface does: its known GET
// paths, 404 "invalid path" otherwise.
func fakeEnvoyAdmin() http.Handler {
	known := map[string]bool{}
	for _, q := range adminQueries {
		known["/"+q] = true
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet || !known[r.URL.Path] {
			http.Error(w, "invalid path: "+r.URL.Path, http.StatusNotFound)
			return
		}
		fmt.Fprint(w, adminAnswer(r.URL.RequestURI()))
	})
}

func adminAnswer(uri string) string { return "envoy admin answer for " + uri + "\n" }

func meshedPod(namespace, name string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name,
			Labels: map[string]string{injector.LabelProxyUUID: "0b1c1a6e-1f4c-4a57-9a4b-" + fmt.Sprintf("%012x", len(name))}},
		Spec: corev1.PodSpec{
			NodeName: "kwok-node-1",
			Containers: []corev1.Container{
				{Name: "app", Image: "bookbuyer"},
				{Name: injector.EnvoyContainerName, Image: "envoyproxy/envoy"},
			},
		},
	}
}
