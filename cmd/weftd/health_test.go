package main

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/uuid"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/internal/adstest"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/xds"
)

func TestReadyzNamesWhatIsNotReady(t *testing.T) {
	for name, tc := range map[string]struct {
		ca, ads, model bool
		code           int
		body           string
	}{
		"every part is up":              {true, true, true, http.StatusOK, "ok\n"},
		"the root is not loaded yet":    {false, false, false, http.StatusServiceUnavailable, "not ready: " + readyCA + "; " + readyADS + "; " + readyInformers + "\n"},
		"the informers have not synced": {true, true, false, http.StatusServiceUnavailable, "not ready: " + readyInformers + "\n"},
	} {
		t.Run(name, func(t *testing.T) {
			r := &readiness{}
			r.flag(readyCA).Store(tc.ca)
			r.flag(readyADS).Store(tc.ads)
			r.add(readyInformers, func() bool { return tc.model })
			w := httptest.NewRecorder()
			r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
			if w.Code != tc.code || w.Body.String() != tc.body {
				t.Errorf("got %d %q, want %d %q", w.Code, w.Body.String(), tc.code, tc.body)
			}
		})
	}
}

// TestWeftdReadyzWaitsForTheInformers runs weftd against a real API server
// whose Retry CRD is missing, so that its informers cannot sync: /healthz
// answers, /readyz names the missing model (and not the CA, which loaded its
// root), until the CRD is back.
func TestWeftdReadyzWaitsForTheInformers(t *testing.T) {
	env := testenv.Start(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env.ApplyFiles(t, "examples/osm-system-namespace.yaml")
	scheme := runtime.NewScheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	crds, err := client.New(env.Config, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	var crd apiextensionsv1.CustomResourceDefinition
	if err := crds.Get(ctx, client.ObjectKey{Name: "retries.policy.openservicemesh.io"}, &crd); err != nil {
		t.Fatal(err)
	}
	if err := crds.Delete(ctx, &crd); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, "the Retry CRD is gone", func() bool {
		return crds.Get(ctx, client.ObjectKey{Name: crd.Name}, &apiextensionsv1.CustomResourceDefinition{}) != nil
	})

	o := clusterOptions(t, env.KubeconfigPath)
	o.webhookEnabled, o.injectorEnabled = false, false
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("weftd: %v", err)
		}
	})

	t.Run("without synced informers weftd is live but not ready, and says why", func(t *testing.T) {
		get(t, "http://"+o.healthAddr+"/healthz")
		var code int
		var body string
		testenv.Eventually(t, "the CA and ADS are up", func() bool {
			code, body = status(t, "http://"+o.healthAddr+"/readyz")
			return code == http.StatusServiceUnavailable && !strings.Contains(body, readyCA) && !strings.Contains(body, readyADS)
		})
		if body != "not ready: "+readyInformers+"\n" {
			t.Errorf("/readyz = %d %q, want 503 naming the model", code, body)
		}
		// Not a moment before the informers sync: they cannot, without the CRD.
		time.Sleep(time.Second)
		if code, body = status(t, "http://"+o.healthAddr+"/readyz"); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz = %d %q a second later, want still 503", code, body)
		}
	})

	t.Run("with the CRD back, weftd is ready", func(t *testing.T) {
		crd.ResourceVersion, crd.UID = "", ""
		if err := crds.Create(ctx, &crd); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, "/readyz answers ok", func() bool {
			code, body := status(t, "http://"+o.healthAddr+"/readyz")
			return code == http.StatusOK && body == "ok\n"
		})
	})
}

func status(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// podYAML is a bookbuyer pod that names its proxy, as the injector labels it.
const podYAML = `apiVersion: v1
kind: Pod
metadata:
  name: bookbuyer-1
  namespace: bookbuyer
  labels:
    app: bookbuyer
    osm-proxy-uuid: %s
spec:
  serviceAccountName: bookbuyer
  containers:
  - name: bookbuyer
    image: bookbuyer
`

// TestWeftdServesProxyStatus runs weftd on files with a bookbuyer pod whose
// proxy connects and ACKs, and a bookstore proxy that NACKs its clusters:
// /readyz is ok and /debug/proxy-status, on the health listener, shows the
// first in sync with its pod and the second's NACK with the proxy's message.
func TestWeftdServesProxyStatus(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-such-kubeconfig"))
	files := t.TempDir()
	if err := os.CopyFS(files, os.DirFS(filepath.Join("..", "..", "examples", "bookstore"))); err != nil {
		t.Fatal(err)
	}
	podProxy := uuid.NewString()
	if err := os.WriteFile(filepath.Join(files, "pod.yaml"), []byte(strings.Replace(podYAML, "%s", podProxy, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(t.TempDir(), "state")
	o := filesOptions(t, files, stateDir)
	startWeftd(t, o)
	base := "http://" + o.healthAddr

	t.Run("weftd on files is ready once its first model is built", func(t *testing.T) {
		if code, body := status(t, base+"/readyz"); code != http.StatusOK || body != "ok\n" {
			t.Errorf("/readyz = %d %q, want ok", code, body)
		}
	})

	rootPEM, err := os.ReadFile(filepath.Join(stateDir, internalca.KeyCert))
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := os.ReadFile(filepath.Join(stateDir, internalca.KeyKey))
	if err != nil {
		t.Fatal(err)
	}
	manager, rejecting, rejectingPair := proxyFromRoot(t, rootPEM, keyPEM, nil, identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"})
	syncing := ca.Proxy{ID: podProxy, Kind: ca.ProxySidecar, Identity: identity.Identity{Namespace: "bookbuyer", ServiceAccount: "bookbuyer"}}
	syncingPair := adstest.ProxyPair(t, manager, syncing)

	a := adstest.Dial(t, context.Background(), xdsAddr(o), syncingPair, manager.BundlePool(), syncing.CommonName(identity.DefaultTrustDomain))
	for _, typ := range []string{resource.ClusterType, resource.ListenerType} {
		a.Await(t, typ, nil, func(*discovery.DiscoveryResponse) bool { return true })
	}
	b := adstest.Dial(t, context.Background(), xdsAddr(o), rejectingPair, manager.BundlePool(), rejecting.CommonName(identity.DefaultTrustDomain))
	rejected := b.Reject(t, resource.ClusterType, nil, "cluster bookstore/bookstore-v1|14001: bad")

	var all []xds.ProxyStatus
	waitFor(t, "both proxies have answered", func() bool {
		all = proxyStatus(t, base+proxyStatusPath)
		return len(all) == 2 && all[0].Types["CDS"].Acked != "" && all[1].Types["CDS"].Nack != nil
	})

	t.Run("the proxy in sync shows its pod and the versions it acknowledged", func(t *testing.T) {
		got := all[0]
		if got.ID != podProxy || got.PodNamespace != "bookbuyer" || got.PodName != "bookbuyer-1" || got.Kind != ca.ProxySidecar {
			t.Errorf("status = %+v, want bookbuyer-1's sidecar", got)
		}
		for _, typ := range []string{"CDS", "LDS"} {
			if s := got.Types[typ]; s.Sent == "" || s.Sent != s.Acked || s.Nack != nil {
				t.Errorf("%s = %+v, want in sync", typ, s)
			}
		}
	})

	t.Run("the rejecting proxy shows the rejected version and its message, and no pod", func(t *testing.T) {
		got := all[1]
		n := got.Types["CDS"].Nack
		if got.ID != rejecting.ID || got.PodName != "" || n.Version != rejected.GetVersionInfo() || n.Message != "cluster bookstore/bookstore-v1|14001: bad" {
			t.Errorf("status = %+v, NACK %+v: want the NACK of version %s", got, n, rejected.GetVersionInfo())
		}
	})

	t.Run("filters select by pod, namespace and proxy", func(t *testing.T) {
		for query, want := range map[string]string{
			"?pod=bookbuyer/bookbuyer-1": podProxy,
			"?namespace=bookstore":       rejecting.ID,
			"?proxy=" + rejecting.ID:     rejecting.ID,
		} {
			got := proxyStatus(t, base+proxyStatusPath+query)
			if len(got) != 1 || got[0].ID != want {
				t.Errorf("%s: got %d proxies (%+v), want %s", query, len(got), got, want)
			}
		}
		if got := proxyStatus(t, base+proxyStatusPath+"?pod=bookbuyer/no-such-pod"); len(got) != 0 {
			t.Errorf("an unknown pod matched %+v", got)
		}
		if code, _ := status(t, base+proxyStatusPath+"?pod=bookbuyer-1"); code != http.StatusBadRequest {
			t.Errorf("a pod without namespace: %d, want 400", code)
		}
	})
}

// proxyStatus reads /debug/proxy-status, sorted bookbuyer first (by identity).
func proxyStatus(t *testing.T, url string) []xds.ProxyStatus {
	t.Helper()
	body, err := httpGet(url)
	if err != nil {
		t.Fatal(err)
	}
	var out []xds.ProxyStatus
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("%v in %s", err, body)
	}
	return out
}
