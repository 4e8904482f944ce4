package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

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
	})
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
