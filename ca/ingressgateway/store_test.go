package ingressgateway_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/ingressgateway"
	"github.com/weft-mesh/weft/ca/internalca"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/identity"
)

// In files mode the Secret is a folder an ingress controller on the machine
// reads; the same rules hold: written, followed by the section, never over a
// folder it did not write.
func TestIngressGatewayFolder(t *testing.T) {
	ctx := context.Background()
	roots, err := internalca.NewRoot("test root", internalca.DefaultRootValidity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, err := ca.NewManager(ca.Options{Signer: internalca.New(roots, nil), TrustDomain: identity.DefaultTrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	r := ingressgateway.NewReconciler(ingressgateway.FolderStore{Dir: dir}, m, "osm-system", nil, nil)
	mc := func(name string) *configv1alpha2.MeshConfig {
		c := &configv1alpha2.MeshConfig{ObjectMeta: metav1.ObjectMeta{Namespace: "osm-system", Name: configv1alpha2.DefaultMeshConfigName}}
		c.Spec.Certificate.IngressGateway = &configv1alpha2.IngressGatewayCertSpec{
			SubjectAltNames: []string{"ingress-nginx.ingress-nginx.cluster.local"}, ValidityDuration: "1h",
			Secret: corev1.SecretReference{Name: name, Namespace: "osm-system"},
		}
		return c
	}
	if _, err := r.Reconcile(ctx, mc("nginx-client")); err != nil {
		t.Fatal(err)
	}
	folder := filepath.Join(dir, "osm-system", "nginx-client")
	crt, err := os.ReadFile(filepath.Join(folder, "tls.crt"))
	if err != nil {
		t.Fatal(err)
	}
	certs, err := ca.ParseCertificatesPEM(crt)
	if err != nil || certs[0].DNSNames[0] != "ingress-nginx.ingress-nginx.cluster.local" {
		t.Fatalf("tls.crt: %v %v", certs, err)
	}
	if info, err := os.Stat(filepath.Join(folder, "tls.key")); err != nil || info.Mode().Perm()&0o077 != 0 {
		t.Errorf("tls.key mode %v (%v), want readable by its owner only", info.Mode(), err)
	}
	// A second reconcile keeps the certificate.
	if _, err := r.Reconcile(ctx, mc("nginx-client")); err != nil {
		t.Fatal(err)
	}
	if again, _ := os.ReadFile(filepath.Join(folder, "tls.crt")); string(again) != string(crt) {
		t.Error("an up-to-date certificate was reissued")
	}

	// A folder someone else wrote is left alone, with an error naming it.
	theirs := filepath.Join(dir, "osm-system", "theirs")
	if err := os.MkdirAll(theirs, 0o700); err != nil {
		t.Fatal(err)
	}
	for name, data := range map[string]string{"metadata.json": "{}", "tls.crt": "mine"} {
		if err := os.WriteFile(filepath.Join(theirs, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := r.Reconcile(ctx, mc("theirs")); err == nil {
		t.Error("reconciling over a folder Weft did not write succeeded")
	}
	if b, _ := os.ReadFile(filepath.Join(theirs, "tls.crt")); string(b) != "mine" {
		t.Errorf("their tls.crt was overwritten: %q", b)
	}

	// Without the section, what it wrote goes; theirs stays.
	if _, err := r.Reconcile(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(folder); !os.IsNotExist(err) {
		t.Errorf("the certificate's folder is still there (%v)", err)
	}
	if _, err := os.Stat(theirs); err != nil {
		t.Errorf("their folder was removed: %v", err)
	}
}
