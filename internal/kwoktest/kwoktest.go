// Package kwoktest runs kwok, the kubelet stand-in, against a test API server:
// Nodes it manages turn Ready, Pods placed on them turn Running, and the API
// server's pods/portforward reaches kwok's kubelet API, which forwards each
// pod port a test names to a local address. So a test can reach a "pod" (a
// local server) through the real API server, as `kubectl port-forward` does.
//
// kwok comes from hack/kwok.sh, which builds it from the Go module proxy once
// and caches it with its Stage configuration under $HOME/.cache/weft.
package kwoktest

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/weft-mesh/weft/internal/repo"
	"github.com/weft-mesh/weft/internal/testenv"
)

// NodeAnnotation marks the Nodes kwok manages.
const NodeAnnotation = "kwok.x-k8s.io/node"

// Forward sends connections to a pod's port to a local address.
type Forward struct {
	Namespace, Pod string
	Port           int32
	// Address is host:port, such as a test server's listener address.
	Address string
}

// Kwok is a running kwok.
type Kwok struct {
	// Address is where its kubelet API listens (HTTPS and HTTP on one port).
	Address string
	mu      sync.Mutex
	logs    bytes.Buffer
}

// Logs is kwok's output so far.
func (k *Kwok) Logs() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.logs.String()
}

// Start runs kwok on the API server of kubeconfig, managing the Nodes
// annotated kwok.x-k8s.io/node=fake, with forwards for the pod ports named.
// It stops when the test ends. kwok reads forwards once, at start.
func Start(t testing.TB, kubeconfig string, forwards ...Forward) *Kwok {
	t.Helper()
	bin, err := Binary()
	if err != nil {
		t.Fatal(err)
	}
	stages, err := os.ReadFile(filepath.Join(filepath.Dir(bin), "stages.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	config := bytes.NewBuffer(stages)
	for _, f := range forwards {
		host, port, err := net.SplitHostPort(f.Address)
		if err != nil {
			t.Fatalf("forward %s/%s:%d: %v", f.Namespace, f.Pod, f.Port, err)
		}
		fmt.Fprintf(config, `
apiVersion: kwok.x-k8s.io/v1alpha1
kind: PortForward
metadata:
  name: %s
  namespace: %s
spec:
  forwards:
  - ports: [%d]
    target:
      address: %q
      port: %s
---
`, f.Pod, f.Namespace, f.Port, host, port)
	}
	configPath := filepath.Join(t.TempDir(), "kwok.yaml")
	if err := os.WriteFile(configPath, config.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	k := &Kwok{Address: net.JoinHostPort("127.0.0.1", strconv.Itoa(port))}
	cmd := exec.Command(bin,
		"--kubeconfig", kubeconfig,
		"--config", configPath,
		"--manage-all-nodes=false",
		"--manage-nodes-with-annotation-selector", NodeAnnotation+"=fake",
		"--node-ip", "127.0.0.1",
		"--node-port", strconv.Itoa(port),
		"--server-address", k.Address,
		"--cidr", "10.244.0.0/24",
	)
	// kwok reads ~/.kwok/kwok.yaml by default: the test's config only.
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir())
	cmd.Stdout, cmd.Stderr = lockedWriter{k}, lockedWriter{k}
	testenv.RunProcess(t, "kwok", cmd, k.Logs)
	return k
}

// AddNode creates a Node that kwok manages, its kubelet at k.Address, and
// waits until it is Ready.
func (k *Kwok) AddNode(t testing.TB, c kubernetes.Interface, name string) *corev1.Node {
	t.Helper()
	ctx := context.Background()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:        name,
		Annotations: map[string]string{NodeAnnotation: "fake"},
		Labels:      map[string]string{"type": "kwok", "kubernetes.io/hostname": name},
	}, Spec: corev1.NodeSpec{PodCIDR: "10.244.0.0/24", PodCIDRs: []string{"10.244.0.0/24"}}}
	node, err := c.CoreV1().Nodes().Create(ctx, node, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// The API server dials a kubelet by the first address of its preferred
	// types, Hostname first: give the node's name no chance to be looked up.
	_, port, _ := net.SplitHostPort(k.Address)
	p, _ := strconv.Atoi(port)
	node.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: "127.0.0.1"}, {Type: corev1.NodeInternalIP, Address: "127.0.0.1"}}
	node.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(p)
	if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		n, err := c.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err == nil && ready(n.Status.Conditions, corev1.NodeReady) {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s is not Ready after 30s (kwok output:\n%s)", name, tail(k.Logs(), 2000))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// WaitRunning waits until kwok has made the pod Running.
func WaitRunning(t testing.TB, c kubernetes.Interface, namespace, name string) *corev1.Pod {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		pod, err := c.CoreV1().Pods(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err == nil && pod.Status.Phase == corev1.PodRunning {
			return pod
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s/%s is not Running after 30s", namespace, name)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func ready(conds []corev1.NodeCondition, typ corev1.NodeConditionType) bool {
	for _, c := range conds {
		if c.Type == typ && c.Status == corev1.ConditionTrue {
			return true
		}
	}
	return false
}

var (
	binaryOnce sync.Once
	binaryPath string
	binaryErr  error
)

// Binary returns kwok's path: $KWOK when set, else the cache that
// hack/kwok.sh fills (building kwok on first use).
func Binary() (string, error) {
	binaryOnce.Do(func() {
		if p := os.Getenv("KWOK"); p != "" {
			binaryPath = p
			return
		}
		root, err := repo.Root()
		if err != nil {
			binaryErr = err
			return
		}
		var stderr bytes.Buffer
		cmd := exec.Command(filepath.Join(root, "hack", "kwok.sh"))
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			binaryErr = fmt.Errorf("hack/kwok.sh: %v\n%s", err, tail(stderr.String(), 4000))
			return
		}
		binaryPath = strings.TrimSpace(string(out))
	})
	return binaryPath, binaryErr
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

type lockedWriter struct{ k *Kwok }

func (l lockedWriter) Write(p []byte) (int, error) {
	l.k.mu.Lock()
	defer l.k.mu.Unlock()
	return l.k.logs.Write(p)
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}
