package e2e

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/weft-mesh/weft/internal/meshrun"
	"github.com/weft-mesh/weft/internal/testenv"
)

const bookstoreTarget = "xds:///bookstore.bookstore.svc.cluster.local:14001"

// startFilesMesh builds weftd and bookapp and runs the demo's mesh (demo/mesh)
// with no cluster, bookstore v1 and v2 serving.
func startFilesMesh(t *testing.T, ctx context.Context) *meshrun.Mesh {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// WEFT_E2E_WORKDIR keeps the logs, files and state of a run.
	work := os.Getenv("WEFT_E2E_WORKDIR")
	if work == "" {
		work = t.TempDir()
	}
	bins, err := meshrun.Build(ctx, root, work)
	if err != nil {
		t.Fatal(err)
	}
	m, err := meshrun.Start(ctx, bins, work, filepath.Join(root, "demo", "mesh"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("logs are in %s", work)
		}
	})
	for _, s := range []struct{ pod, addr string }{{"bookstore-v1", "127.0.1.1:14001"}, {"bookstore-v2", "127.0.1.2:14001"}} {
		if _, err := m.Serve(ctx, "bookstore", s.pod, s.pod, s.addr); err != nil {
			t.Fatal(err)
		}
	}
	return m
}

// TestTrafficThroughTheMesh runs the scenarios OSM users ran, with real gRPC
// xDS clients and servers as the pods, served by weftd on files; each outcome
// is what the calling client saw.
func TestTrafficThroughTheMesh(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	m := startFilesMesh(t, ctx)
	root, _ := testenv.RepoRoot()
	policies := filepath.Join(root, "demo", "policies")

	buyer, err := m.Caller(ctx, "bookbuyer", "bookbuyer", bookstoreTarget, "unary", 100)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a: permissive mode lets bookbuyer reach bookstore", func(t *testing.T) {
		if _, _, err := buyer.WaitFor(ctx, 50, func(c meshrun.Call) bool { return c.OK }); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("b: without permissive mode and policy bookbuyer is denied", func(t *testing.T) {
		if _, err := m.Apply("meshconfig.yaml", []byte(strings.Replace(readFile(t, filepath.Join(root, "demo", "mesh", "meshconfig.yaml")), "enablePermissiveTrafficPolicyMode: true", "enablePermissiveTrafficPolicyMode: false", 1))); err != nil {
			t.Fatal(err)
		}
		if _, _, err := buyer.WaitFor(ctx, 50, func(c meshrun.Call) bool { return c.Code == "PermissionDenied" }); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("c: a TrafficTarget allows bookbuyer's method only", func(t *testing.T) {
		if _, err := m.ApplyFile(filepath.Join(policies, "access.yaml")); err != nil {
			t.Fatal(err)
		}
		if _, _, err := buyer.WaitFor(ctx, 50, func(c meshrun.Call) bool { return c.OK }); err != nil {
			t.Fatal(err)
		}
		thief, err := m.Caller(ctx, "bookthief", "bookthief", bookstoreTarget, "unary", 50)
		if err != nil {
			t.Fatal(err)
		}
		defer thief.Stop()
		calls, err := thief.Calls(ctx, 20)
		if err != nil {
			t.Fatal(err)
		}
		if o := calls.Outcomes(); o["PermissionDenied"] != len(calls) {
			t.Errorf("bookthief's calls: %s, want every one PermissionDenied", calls)
		}
		other, err := m.Caller(ctx, "bookbuyer", "bookbuyer", bookstoreTarget, "empty", 50)
		if err != nil {
			t.Fatal(err)
		}
		defer other.Stop()
		calls, err = other.Calls(ctx, 20)
		if err != nil {
			t.Fatal(err)
		}
		if o := calls.Outcomes(); o["PermissionDenied"] != len(calls) {
			t.Errorf("bookbuyer's EmptyCall (a method the HTTPRouteGroup does not list): %s, want every one PermissionDenied", calls)
		}
	})

	t.Run("d: a TrafficSplit divides bookbuyer's calls, and its edit shifts them", func(t *testing.T) {
		split := readFile(t, filepath.Join(policies, "split.yaml"))
		if _, err := m.Apply("split.yaml", []byte(split)); err != nil {
			t.Fatal(err)
		}
		// Both versions also back the root Service, so 50/50 is also what
		// round robin over its endpoints gives: the split's own effect shows
		// in the shift below.
		if _, _, err := buyer.WaitFor(ctx, 20, func(c meshrun.Call) bool { return c.OK }); err != nil {
			t.Fatal(err)
		}
		calls, err := buyer.Calls(ctx, 400)
		if err != nil {
			t.Fatal(err)
		}
		o := calls.Outcomes()
		// 400 calls at 1/2: the standard deviation is 10 calls; 40 is four.
		if o["bookstore-v1"] < 160 || o["bookstore-v2"] < 160 || len(calls.Failures()) > 0 {
			t.Errorf("50/50 split: %s, want each version within 200±40 and no failure", calls)
		}
		t.Logf("50/50 split: %s", calls)
		edited := strings.NewReplacer("{service: bookstore-v1, weight: 50}", "{service: bookstore-v1, weight: 0}",
			"{service: bookstore-v2, weight: 50}", "{service: bookstore-v2, weight: 100}").Replace(split)
		at, err := m.Apply("split.yaml", []byte(edited))
		if err != nil {
			t.Fatal(err)
		}
		shifted, before, err := buyer.WaitFor(ctx, 200, func(c meshrun.Call) bool { return c.Server == "bookstore-v2" })
		if err != nil {
			t.Fatal(err)
		}
		if f := before.Failures(); len(f) > 0 {
			t.Errorf("calls failed during the shift: %s", f)
		}
		t.Logf("0/100 split: the calls moved to bookstore-v2 %v after the edit (then 200 calls in a row went there)", shifted.Sub(at).Round(time.Millisecond))
	})

	t.Run("e: a client without a mesh certificate cannot connect", func(t *testing.T) {
		for name, creds := range map[string]*tls.Config{
			"no certificate":            {InsecureSkipVerify: true},
			"a self-signed certificate": {InsecureSkipVerify: true, Certificates: []tls.Certificate{selfSigned(t)}},
		} {
			conn, err := grpc.NewClient("127.0.1.1:14001", grpc.WithTransportCredentials(credentials.NewTLS(creds)))
			if err != nil {
				t.Fatal(err)
			}
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err = testgrpc.NewTestServiceClient(conn).UnaryCall(cctx, &testgrpc.SimpleRequest{})
			cancel()
			conn.Close()
			if err == nil {
				t.Errorf("%s: the call succeeded, want it refused", name)
				continue
			}
			t.Logf("%s: %v", name, status.Code(err))
		}
	})
}

// selfSigned is a client certificate no mesh root signed.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "bookbuyer.bookbuyer.cluster.local"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
