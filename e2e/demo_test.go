package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	corev1 "k8s.io/api/core/v1"
	kresource "k8s.io/apimachinery/pkg/api/resource"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/internal/adstest"
	"github.com/weft-mesh/weft/internal/testenv"
	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
)

// TestBookstoreDemo is the bookstore story end to end, and what `make demo-cluster`
// shows: a real API server with the controller manager, the weftd binary with
// its webhooks, the bookstore applied as an OSM user applies it, pods injected
// at admission, and sidecars played by xDS clients that authenticate with the
// certificates of their own bootstrap Secrets. It shows what bookstore admits
// and how bookbuyer splits its traffic, then shifts the split and times how
// long the change takes to reach bookbuyer's sidecar.
func TestBookstoreDemo(t *testing.T) {
	env := testenv.Start(t, testenv.WithControllerManager(),
		testenv.WithWebhooks(testenv.ValidatingWebhooks, testenv.MutatingWebhooks))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	step := func(format string, args ...any) { t.Logf("==> "+format, args...) }

	step("the mesh namespace, then weftd")
	env.ApplyFiles(t, "examples/osm-system-namespace.yaml")
	xdsPort := startWeftd(t, ctx, env, false)

	step("the MeshConfig and the bookstore story, as an OSM user applies them")
	env.ApplyFiles(t, "examples/meshconfig.yaml", "examples/bookstore")

	buyer := sidecarOf(t, env, "bookbuyer", "bookbuyer")
	store := sidecarOf(t, env, "bookstore", "bookstore")
	step("pods were injected: %s and %s each have an envoy sidecar and a bootstrap Secret", buyer.pod, store.pod)

	// The model follows the cluster as the controller manager makes pods, so a
	// sidecar may first get an earlier configuration: read until it settles.
	storeADS := store.connect(t, ctx, xdsPort)
	var principals []string
	storeADS.Await(t, resource.ListenerType, nil, func(resp *discovery.DiscoveryResponse) bool {
		principals = allowedPrincipals(t, resp)
		return len(principals) > 0
	})
	step("bookstore's sidecar admits HTTP from: %s", strings.Join(principals, ", "))
	if !slices.Contains(principals, "spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer") || slices.ContainsFunc(principals, func(p string) bool { return strings.Contains(p, "bookthief") }) {
		t.Errorf("bookstore admits %v; want bookbuyer and not bookthief", principals)
	}

	buyerADS := buyer.connect(t, ctx, xdsPort)
	var split string
	buyerADS.Await(t, resource.RouteType, []string{"rds-outbound.14001"}, func(resp *discovery.DiscoveryResponse) bool {
		split = adstest.WeightedClusters(t, resp, "bookstore.bookstore")
		return strings.Count(split, "=") == 2
	})
	step("bookbuyer's sidecar splits bookstore: %s", split)
	if split != "bookstore/bookstore-v1|14001=500 bookstore/bookstore-v2|14001=500" {
		t.Errorf("split = %q, want 500/500 between v1 and v2", split)
	}

	step("shifting all of bookstore's traffic to v2 (kubectl edit trafficsplit bookstore-split)")
	var ts splitv1alpha2.TrafficSplit
	if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "bookstore", Name: "bookstore-split"}, &ts); err != nil {
		t.Fatal(err)
	}
	ts.Spec.Backends[0].Weight, ts.Spec.Backends[1].Weight = kresource.MustParse("0"), kresource.MustParse("1")
	start := time.Now()
	if err := env.Client.Update(ctx, &ts); err != nil {
		t.Fatal(err)
	}
	buyerADS.Await(t, "", nil, func(resp *discovery.DiscoveryResponse) bool {
		split = adstest.WeightedClusters(t, resp, "bookstore.bookstore")
		return resp.GetTypeUrl() == resource.RouteType && split != "bookstore/bookstore-v1|14001=500 bookstore/bookstore-v2|14001=500"
	})
	step("bookbuyer's sidecar received %q %v after the edit (coalescing window included)", split, time.Since(start).Round(time.Millisecond))
	if split != "bookstore/bookstore-v2|14001=1000" {
		t.Errorf("split = %q, want all to v2", split)
	}
}

// startWeftd builds and runs the weftd binary against env, serving the
// webhooks where testenv pointed them, and returns its ADS port. With
// localXDS, bootstraps name it at localhost (--xds-address), so that
// processes on this machine reach it as pods reach its Service.
func startWeftd(t *testing.T, ctx context.Context, env *testenv.Env, localXDS bool) int {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "weftd")
	build := exec.Command("go", "build", "-o", bin, "./cmd/weftd")
	build.Dir = env.RepoRoot
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/weftd: %v\n%s", err, out)
	}
	// Two distinct free ports, released just before weftd binds them.
	ports := make([]int, 2)
	var held []net.Listener
	for i := range ports {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
		ports[i] = l.Addr().(*net.TCPAddr).Port
	}
	for _, l := range held {
		l.Close()
	}
	logs, err := os.Create(filepath.Join(t.TempDir(), "weftd.log"))
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"--kubeconfig", env.KubeconfigPath,
		"--xds-port", strconv.Itoa(ports[0]), "--health-addr", "127.0.0.1:" + strconv.Itoa(ports[1]), "--debug-addr", "127.0.0.1:0",
		"--webhook-port", strconv.Itoa(env.Webhook.LocalServingPort), "--webhook-cert-dir", env.Webhook.LocalServingCertDir,
		"--coalesce-quiet", "50ms", "--coalesce-max-delay", "500ms"}
	if localXDS {
		args = append(args, "--xds-address", "localhost:"+strconv.Itoa(ports[0]))
	}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		_ = cmd.Wait()
		if t.Failed() {
			out, _ := os.ReadFile(logs.Name())
			t.Logf("weftd's log:\n%s", string(out))
		}
	})
	testenv.Eventually(t, "weftd serves its webhooks", func() bool {
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(env.Webhook.LocalServingPort)), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe only
		if err == nil {
			conn.Close()
		}
		return err == nil
	})
	return ports[0]
}

// sidecar is what an injected pod's Envoy would start from: its bootstrap
// Secret.
type sidecar struct {
	pod    string
	nodeID string
	secret *corev1.Secret
}

func sidecarOf(t *testing.T, env *testenv.Env, namespace, app string) *sidecar {
	t.Helper()
	var s *sidecar
	testenv.Eventually(t, "an injected "+app+" pod and its bootstrap Secret", func() bool {
		var pods corev1.PodList
		if err := env.Client.List(context.Background(), &pods, client.InNamespace(namespace), client.MatchingLabels{"app": app}); err != nil {
			return false
		}
		for _, p := range pods.Items {
			uuid := p.Labels["osm-proxy-uuid"]
			var secret corev1.Secret
			if uuid == "" || env.Client.Get(context.Background(), client.ObjectKey{Namespace: namespace, Name: "envoy-bootstrap-config-" + uuid}, &secret) != nil {
				continue
			}
			var bootstrap struct {
				Node struct {
					ID string `json:"id"`
				} `json:"node"`
			}
			if err := json.Unmarshal(secret.Data["bootstrap.json"], &bootstrap); err != nil {
				t.Fatal(err)
			}
			s = &sidecar{pod: namespace + "/" + p.Name, nodeID: bootstrap.Node.ID, secret: &secret}
			return true
		}
		return false
	})
	return s
}

// connect opens the sidecar's ADS stream with the certificate and roots of its
// bootstrap Secret.
func (s *sidecar) connect(t *testing.T, ctx context.Context, port int) *adstest.Stream {
	t.Helper()
	pair, err := tls.X509KeyPair(s.secret.Data["tls.crt"], s.secret.Data["tls.key"])
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(s.secret.Data["ca.crt"])
	return adstest.Dial(t, ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), pair, roots, s.nodeID)
}

// allowedPrincipals lists the principals of the HTTP RBAC filters on the
// inbound listener.
func allowedPrincipals(t *testing.T, resp *discovery.DiscoveryResponse) []string {
	t.Helper()
	seen := map[string]bool{}
	for _, a := range resp.GetResources() {
		var l listenerv3.Listener
		if err := a.UnmarshalTo(&l); err != nil {
			t.Fatal(err)
		}
		if l.GetName() != "inbound-listener" {
			continue
		}
		for _, fc := range l.GetFilterChains() {
			for _, f := range fc.GetFilters() {
				var hcm hcmv3.HttpConnectionManager
				if f.GetTypedConfig().UnmarshalTo(&hcm) != nil {
					continue
				}
				for _, hf := range hcm.GetHttpFilters() {
					var rbac rbachttpv3.RBAC
					if hf.GetTypedConfig().UnmarshalTo(&rbac) != nil {
						continue
					}
					for _, policy := range rbac.GetRules().GetPolicies() {
						for _, p := range policy.GetPrincipals() {
							collectPrincipals(p.String(), seen)
						}
					}
				}
			}
		}
	}
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// collectPrincipals picks the exact names out of a principal's text form.
func collectPrincipals(text string, seen map[string]bool) {
	for _, field := range strings.Split(text, "exact:\"")[1:] {
		if name, _, ok := strings.Cut(field, "\""); ok {
			seen[name] = true
		}
	}
}
