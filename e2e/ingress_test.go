package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/status"

	"github.com/weft-mesh/weft/internal/nginxtest"
)

// ingressMeshConfig turns permissive mode off (only IngressBackends open a
// way in) and has the CA write nginx's client certificate.
const ingressMeshConfig = `apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  traffic:
    enablePermissiveTrafficPolicyMode: false
  featureFlags:
    enableIngressBackendPolicy: true
  certificate:
    ingressGateway:
      subjectAltNames: [ingress-nginx.ingress-nginx.cluster.local]
      validityDuration: 24h
      secret: {name: osm-nginx-client-cert, namespace: osm-system}
`

// TestIngressThroughNginx is OSM's ingress story with Debian's nginx: nginx,
// outside the mesh, proxies gRPC over mTLS (grpc_pass grpcs://) with the
// ingress gateway certificate the MeshConfig made the CA write, from its own
// address, to bookstore-v1, a proxyless gRPC server of the mesh. What the
// IngressBackend says decides, as seen by a client calling through nginx.
func TestIngressThroughNginx(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	story := startBookstore(t, ctx)
	m := story.Mesh
	if _, err := m.Apply("meshconfig.yaml", []byte(ingressMeshConfig)); err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(m.StateDir, "secrets", "osm-system", "osm-nginx-client-cert")
	cert, key, roots := waitFile(ctx, t, filepath.Join(secret, "tls.crt")), waitFile(ctx, t, filepath.Join(secret, "tls.key")), waitFile(ctx, t, filepath.Join(secret, "ca.crt"))
	nginx := nginxtest.Start(t, nginxtest.Config{
		Listen: "127.0.9.1:0",
		Locations: []nginxtest.Location{{
			Backend: "127.0.1.1:14001",
			Bind:    "127.0.9.1", // the controller pod's address, which the IngressBackend's Service source resolves to
			TLS: &nginxtest.UpstreamTLS{
				CertPEM: cert, KeyPEM: key, TrustedCAPEM: roots,
				ServerName: "bookstore.bookstore.cluster.local", // bookstore's service certificate
			},
		}},
	})
	conn, err := grpc.NewClient(nginx.Addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := testgrpc.NewTestServiceClient(conn)
	// expect waits until calls through nginx end with want ("OK" or a code).
	expect := func(t *testing.T, want string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		var last string
		for ok := 0; ok < 10; {
			cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			resp, err := client.UnaryCall(cctx, &testgrpc.SimpleRequest{})
			cancel()
			got := status.Code(err).String()
			last = got + " " + status.Convert(err).Message()
			if err == nil && resp.GetHostname() != "bookstore-v1" {
				t.Fatalf("answered by %q, want bookstore-v1", resp.GetHostname())
			}
			if got != want {
				ok = 0
				if time.Now().After(deadline) {
					t.Fatalf("calls through nginx end with %s, want %s\nnginx error log:\n%s", last, want, nginx.ErrorLog())
				}
				time.Sleep(50 * time.Millisecond)
				continue
			}
			ok++
		}
	}
	ingress := readFile(t, filepath.Join(story.Root, "demo", "policies", "ingress.yaml"))

	t.Run("no IngressBackend: nginx is denied", func(t *testing.T) {
		expect(t, "PermissionDenied")
	})
	t.Run("the IngressBackend naming nginx's principal lets it in", func(t *testing.T) {
		if _, err := m.Apply("ingress.yaml", []byte(ingress)); err != nil {
			t.Fatal(err)
		}
		expect(t, "OK")
	})
	t.Run("a wrong principal is denied", func(t *testing.T) {
		if _, err := m.Apply("ingress.yaml", []byte(strings.Replace(ingress, "name: ingress-nginx.ingress-nginx.cluster.local", "name: someone-else.ingress-nginx.cluster.local", 1))); err != nil {
			t.Fatal(err)
		}
		expect(t, "PermissionDenied")
	})
	t.Run("skipClientCertValidation lets it in by its address alone", func(t *testing.T) {
		edited := strings.NewReplacer("name: ingress-nginx.ingress-nginx.cluster.local", "name: someone-else.ingress-nginx.cluster.local",
			"skipClientCertValidation: false", "skipClientCertValidation: true").Replace(ingress)
		if _, err := m.Apply("ingress.yaml", []byte(edited)); err != nil {
			t.Fatal(err)
		}
		expect(t, "OK")
	})
	t.Run("removing the IngressBackend denies nginx again", func(t *testing.T) {
		if _, err := m.Delete("ingress.yaml"); err != nil {
			t.Fatal(err)
		}
		expect(t, "PermissionDenied")
	})
}

// waitFile waits for a file weftd writes and returns its content.
func waitFile(ctx context.Context, t *testing.T, path string) []byte {
	t.Helper()
	for {
		if b, err := os.ReadFile(path); err == nil && len(b) > 0 {
			return b
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s was never written", path)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
