package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/uuid"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/internal/adstest"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// TestWeftdServesFilesWithoutACluster is `weftd --files examples/bookstore
// --state-dir <tmp>` with no kubeconfig and no API server: a bookbuyer proxy
// holding a certificate from the root weftd wrote in its state folder receives
// its clusters and routes over ADS, an edit of the TrafficSplit file reaches
// it, and a restart on the same state folder keeps the root.
func TestWeftdServesFilesWithoutACluster(t *testing.T) {
	t.Setenv("KUBECONFIG", filepath.Join(t.TempDir(), "no-such-kubeconfig"))
	files := t.TempDir()
	if err := os.CopyFS(files, os.DirFS(filepath.Join("..", "..", "examples", "bookstore"))); err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(t.TempDir(), "state")
	o := filesOptions(t, files, stateDir)
	o.pprof = true
	stop := startWeftd(t, o)
	if heap, err := httpGet("http://" + o.debugAddr + "/debug/pprof/heap?debug=1"); err != nil || !strings.Contains(heap, "heap profile") {
		t.Errorf("--enable-pprof: /debug/pprof/heap: %v", err)
	}
	if _, err := httpGet("http://" + o.healthAddr + "/debug/pprof/heap?debug=1"); err == nil {
		t.Error("profiles are served on the health listener, which the Service exposes")
	}

	var rootPEM []byte
	waitFor(t, "weftd writes the mesh root in its state folder", func() bool {
		var err error
		rootPEM, err = os.ReadFile(filepath.Join(stateDir, internalca.KeyCert))
		return err == nil
	})
	keyPEM, err := os.ReadFile(filepath.Join(stateDir, internalca.KeyKey))
	if err != nil {
		t.Fatal(err)
	}
	manager, proxy, pair := proxyFromRoot(t, rootPEM, keyPEM, nil, identity.Identity{Namespace: "bookbuyer", ServiceAccount: "bookbuyer"})
	nodeID := proxy.CommonName(identity.DefaultTrustDomain)

	t.Run("bookbuyer receives its clusters for bookstore and the split routes", func(t *testing.T) {
		a := adstest.Dial(t, context.Background(), xdsAddr(o), pair, manager.BundlePool(), nodeID)
		a.Await(t, resource.ClusterType, nil, func(resp *discovery.DiscoveryResponse) bool {
			return slices.Contains(adstest.ClusterNames(t, resp), "bookstore/bookstore-v1|14001")
		})
		var split string
		a.Await(t, resource.RouteType, []string{"rds-outbound.14001"}, func(resp *discovery.DiscoveryResponse) bool {
			split = adstest.WeightedClusters(t, resp, "bookstore.bookstore")
			return split == "bookstore/bookstore-v1|14001=500 bookstore/bookstore-v2|14001=500"
		})

		t.Run("an edit of the TrafficSplit file reaches it", func(t *testing.T) {
			path := filepath.Join(files, "split.yaml")
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			edited := strings.Replace(string(data), "weight: 500m\n    - service: bookstore-v2\n      weight: 500m", "weight: 0\n    - service: bookstore-v2\n      weight: 1", 1)
			if edited == string(data) {
				t.Fatal("split.yaml does not hold the 500m/500m split")
			}
			if err := os.WriteFile(path, []byte(edited), 0o644); err != nil {
				t.Fatal(err)
			}
			a.Await(t, "", nil, func(resp *discovery.DiscoveryResponse) bool {
				split = adstest.WeightedClusters(t, resp, "bookstore.bookstore")
				return resp.GetTypeUrl() == resource.RouteType && split == "bookstore/bookstore-v2|14001=1000"
			})
		})
	})

	t.Run("a restart on the same state folder reuses the root", func(t *testing.T) {
		stop()
		o := filesOptions(t, files, stateDir)
		startWeftd(t, o)
		again, err := os.ReadFile(filepath.Join(stateDir, internalca.KeyCert))
		if err != nil || string(again) != string(rootPEM) {
			t.Fatalf("the root changed on restart (%v)", err)
		}
		// The certificate from the first start still authenticates.
		a := adstest.Dial(t, context.Background(), xdsAddr(o), pair, manager.BundlePool(), nodeID)
		a.Await(t, resource.ClusterType, nil, func(resp *discovery.DiscoveryResponse) bool {
			return slices.Contains(adstest.ClusterNames(t, resp), "bookstore/bookstore-v2|14001")
		})
	})
}

// proxyFromRoot issues a proxy certificate for id from the mesh root weftd
// keeps (its tls.crt, tls.key and ca.crt), as the injector inside weftd would,
// and returns the CA that issued it.
func proxyFromRoot(t *testing.T, tlsCrt, tlsKey, caCrt []byte, id identity.Identity) (*ca.Manager, ca.Proxy, tls.Certificate) {
	t.Helper()
	roots, err := internalca.ParseRootSet(tlsCrt, tlsKey, caCrt, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	manager, err := ca.NewManager(ca.Options{Signer: internalca.New(roots, nil), TrustDomain: identity.DefaultTrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	proxy := ca.Proxy{ID: uuid.NewString(), Kind: ca.ProxySidecar, Identity: id}
	cert, err := manager.ProxyCertificate(context.Background(), proxy)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cert.CertChainPEM, cert.PrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return manager, proxy, pair
}

func filesOptions(t *testing.T, files, stateDir string) options {
	ports := testenv.FreePorts(t, "127.0.0.1", 3)
	return options{
		mesh:  mesh.Defaults(),
		files: []string{files}, stateDir: stateDir,
		caEnabled: true, xdsEnabled: true, xdsPort: ports[0], xdsServiceName: "weftd",
		quietWindow: 20 * time.Millisecond, maxDelay: 200 * time.Millisecond,
		healthAddr: "127.0.0.1:" + strconv.Itoa(ports[1]),
		debugAddr:  "127.0.0.1:" + strconv.Itoa(ports[2]),
		// Left on, as by default: files mode says they are off and runs none.
		webhookEnabled: true, injectorEnabled: true,
	}
}

// startWeftd runs weftd with o until the returned stop is called (or the test
// ends), failing the test if it returns an error, and waits for its first mesh
// model.
func startWeftd(t *testing.T, o options) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), o) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		if err := <-done; err != nil {
			t.Errorf("weftd: %v", err)
		}
	}
	t.Cleanup(stop)
	waitFor(t, "weftd serves /healthz", func() bool {
		select {
		case err := <-done:
			t.Fatalf("weftd stopped: %v", err)
		default:
		}
		resp, err := httpGet("http://" + o.healthAddr + "/healthz")
		return err == nil && resp == "ok\n"
	})
	// Proxies are refused until the files' first model is built.
	waitFor(t, "weftd builds the first mesh model", func() bool {
		_, err := httpGet("http://" + o.debugAddr + "/debug/problems")
		return err == nil
	})
	return stop
}

func httpGet(url string) (string, error) {
	resp, err := (&http.Client{Timeout: time.Second}).Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s: %s: %s", url, resp.Status, b)
	}
	return string(b), err
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func xdsAddr(o options) string { return "127.0.0.1:" + strconv.Itoa(o.xdsPort) }
