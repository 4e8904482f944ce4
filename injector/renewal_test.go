package injector_test

import (
	"bytes"
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/internal/testenv"
)

// TestBootstrapSecretsAreRenewed shows on a real API server that a bootstrap
// Secret's proxy certificate is replaced once due, and its roots follow a root
// rotation, so a long-running sidecar can always reconnect.
func TestBootstrapSecretsAreRenewed(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	start := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	clk := testingclock.NewFakeClock(start)
	roots, err := internalca.NewRoot("renewal test root", internalca.DefaultRootValidity, start)
	if err != nil {
		t.Fatal(err)
	}
	authority := internalca.New(roots, clk)
	manager, err := ca.NewManager(ca.Options{Signer: authority, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "renewal"}}); err != nil {
		t.Fatal(err)
	}
	proxy := ca.Proxy{ID: uuid.NewString(), Kind: ca.ProxySidecar, Identity: ca.Identity{Namespace: "renewal", ServiceAccount: "web"}}
	cert, err := manager.ProxyCertificate(ctx, proxy)
	if err != nil {
		t.Fatal(err)
	}
	manager.ForgetProxy(proxy)
	secret, err := injector.BootstrapSecret(proxy, cert, "cluster.local", injector.XDSEndpoint{Host: "weftd.osm-system.svc.cluster.local", Port: 15128, ServerName: "weftd.osm-system.svc"})
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	read := func() *corev1.Secret {
		var s corev1.Secret
		if err := env.Client.Get(ctx, client.ObjectKeyFromObject(secret), &s); err != nil {
			t.Fatal(err)
		}
		return &s
	}
	renew := func(now time.Time) []string {
		updated, err := injector.RenewBootstrapSecrets(ctx, env.Client, manager, "cluster.local", now)
		if err != nil {
			t.Fatal(err)
		}
		return updated
	}

	t.Run("a certificate that is not due is left alone", func(t *testing.T) {
		if updated := renew(start.Add(time.Hour)); len(updated) != 0 {
			t.Errorf("updated %v", updated)
		}
	})

	t.Run("a due certificate is replaced by one for the same proxy", func(t *testing.T) {
		now := start.Add(20 * time.Hour)
		clk.SetTime(now)
		if updated := renew(now); len(updated) != 1 {
			t.Fatalf("updated %v, want the one Secret", updated)
		}
		s := read()
		if bytes.Equal(s.Data[injector.CertChainFileName], cert.CertChainPEM) {
			t.Fatal("the certificate was not replaced")
		}
		chain, err := ca.ParseCertificatesPEM(s.Data[injector.CertChainFileName])
		if err != nil {
			t.Fatal(err)
		}
		got, err := ca.VerifyProxyCertificate(chain, manager.BundlePool(), "cluster.local", now)
		if err != nil || got != proxy {
			t.Errorf("renewed certificate names %v (%v), want %v", got, err, proxy)
		}
		if !chain[0].NotAfter.After(cert.NotAfter) {
			t.Errorf("the new certificate expires %v, no later than the old %v", chain[0].NotAfter, cert.NotAfter)
		}
	})

	t.Run("a root rotation reaches the Secret's roots", func(t *testing.T) {
		next, err := internalca.NewRoot("renewal test root 2", internalca.DefaultRootValidity, clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		authority.SetRoots(authority.RootSet().AddTrusted(next.Signing.Cert))
		if _, err := manager.RenewDue(ctx); err != nil { // the CA's loop notices new roots here
			t.Fatal(err)
		}
		if certs, _ := ca.ParseCertificatesPEM(manager.Bundle()); len(certs) != 2 {
			t.Fatalf("the mesh bundle holds %d roots, want 2", len(certs))
		}
		if updated := renew(clk.Now()); len(updated) != 1 {
			t.Fatalf("updated %v, want the one Secret", updated)
		}
		if got := read().Data[injector.TrustedCAFileName]; !bytes.Equal(got, manager.Bundle()) {
			t.Error("the Secret's roots are not the mesh's bundle")
		}
	})
}
