package internalca_test

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/internal/testenv"
)

// TestRootSecretOnTheAPIServer runs against a real kube-apiserver and etcd.
func TestRootSecretOnTheAPIServer(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	ns := fmt.Sprintf("weft-ca-%d", time.Now().UnixNano())
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}

	t.Run("the root survives a restart of the CA", func(t *testing.T) {
		first := &internalca.SecretStore{Client: env.Client, Namespace: ns, Name: "weft-ca-root"}
		set1, err := first.LoadOrCreate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m1 := manager(t, internalca.New(set1, nil))
		leaf1, err := m1.ServiceCertificate(ctx, ca.Identity{Namespace: "bookstore", ServiceAccount: "bookbuyer"})
		if err != nil {
			t.Fatal(err)
		}

		// A restart: a new client, store, authority and manager.
		c2, err := client.New(env.Config, client.Options{Scheme: env.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		second := &internalca.SecretStore{Client: c2, Namespace: ns, Name: "weft-ca-root"}
		set2, err := second.LoadOrCreate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !set2.Signing.Cert.Equal(set1.Signing.Cert) {
			t.Fatal("a different root after restart")
		}
		m2 := manager(t, internalca.New(set2, nil))
		leaf2, err := m2.ServiceCertificate(ctx, ca.Identity{Namespace: "bookstore", ServiceAccount: "bookthief"})
		if err != nil {
			t.Fatal(err)
		}
		// Leaves from before and after the restart trust each other.
		for _, pair := range []struct {
			leaf   *ca.Certificate
			bundle []byte
		}{{leaf1, m2.Bundle()}, {leaf2, m1.Bundle()}} {
			if err := verify(pair.leaf, pair.bundle); err != nil {
				t.Errorf("%s: %v", pair.leaf.Leaf.Subject.CommonName, err)
			}
		}
	})

	t.Run("a malformed root Secret gives an error naming it and is not overwritten", func(t *testing.T) {
		bad := &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "broken-root"},
			Data:       map[string][]byte{"tls.crt": []byte("-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"), "tls.key": []byte("x")},
		}
		if err := env.Client.Create(ctx, bad); err != nil {
			t.Fatal(err)
		}
		store := &internalca.SecretStore{Client: env.Client, Namespace: ns, Name: "broken-root"}
		_, err := store.LoadOrCreate(ctx)
		var malformed *internalca.MalformedSecretError
		if !errors.As(err, &malformed) {
			t.Fatalf("error = %v, want a MalformedSecretError", err)
		}
		for _, want := range []string{ns + "/broken-root", "malformed", "tls.crt"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		var after corev1.Secret
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "broken-root"}, &after); err != nil {
			t.Fatal(err)
		}
		if after.ResourceVersion != bad.ResourceVersion {
			t.Error("the malformed Secret was modified")
		}
	})

	t.Run("a user's own CA in the Secret is used and its leaves chain to the user's root", func(t *testing.T) {
		userRoot, err := internalca.NewRoot("user root", 365*24*time.Hour, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		inter := intermediateAt(t, userRoot, time.Now())
		interKey, _ := ca.EncodePrivateKeyPEM(inter.Key)
		if err := env.Client.Create(ctx, &corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "user-ca"},
			Type:       corev1.SecretTypeTLS,
			Data: map[string][]byte{
				"tls.crt": ca.EncodeCertificatesPEM(inter.Cert), "tls.key": interKey,
				"ca.crt": ca.EncodeCertificatesPEM(userRoot.Signing.Cert),
			},
		}); err != nil {
			t.Fatal(err)
		}
		set, err := (&internalca.SecretStore{Client: env.Client, Namespace: ns, Name: "user-ca"}).LoadOrCreate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := manager(t, internalca.New(set, nil))
		leaf, err := m.ServiceCertificate(ctx, ca.Identity{Namespace: "bookstore", ServiceAccount: "bookbuyer"})
		if err != nil {
			t.Fatal(err)
		}
		if err := verify(leaf, ca.EncodeCertificatesPEM(userRoot.Signing.Cert)); err != nil {
			t.Errorf("leaf does not chain to the user's root: %v", err)
		}
		if string(m.Bundle()) != string(ca.EncodeCertificatesPEM(userRoot.Signing.Cert)) {
			t.Error("the bundle is not the user's root")
		}
	})

	t.Run("a rotation saved to the Secret reaches the running CA", func(t *testing.T) {
		store := &internalca.SecretStore{Client: env.Client, Namespace: ns, Name: "rotating-root"}
		set, err := store.LoadOrCreate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		authority := internalca.New(set, nil)
		clk := testingclock.NewFakeClock(time.Now())
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() { store.Follow(fctx, authority, clk, 10*time.Second, nil); close(done) }()
		defer func() { cancel(); <-done }()

		next, _ := internalca.NewRoot("next root", internalca.DefaultRootValidity, time.Now())
		if err := store.Save(ctx, set.AddTrusted(next.Signing.Cert)); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(10 * time.Second)
		for len(authority.RootSet().Trusted) != 2 {
			if time.Now().After(deadline) {
				t.Fatal("the running CA did not pick up the new root")
			}
			if clk.HasWaiters() {
				clk.Step(10 * time.Second)
			}
			time.Sleep(5 * time.Millisecond)
		}

		t.Run("and a Secret edited into garbage keeps the last good roots", func(t *testing.T) {
			var sec corev1.Secret
			if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "rotating-root"}, &sec); err != nil {
				t.Fatal(err)
			}
			sec.Data["ca.crt"] = []byte("garbage")
			if err := env.Client.Update(ctx, &sec); err != nil {
				t.Fatal(err)
			}
			for range 5 {
				for !clk.HasWaiters() {
					time.Sleep(5 * time.Millisecond)
				}
				clk.Step(10 * time.Second)
			}
			if got := len(authority.RootSet().Trusted); got != 2 {
				t.Fatalf("%d trusted roots after a bad edit, want the last good 2", got)
			}
		})
	})
}

func manager(t *testing.T, a *internalca.Authority) *ca.Manager {
	t.Helper()
	m, err := ca.NewManager(ca.Options{Signer: a})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func verify(c *ca.Certificate, bundlePEM []byte) error {
	chain, err := ca.ParseCertificatesPEM(c.CertChainPEM)
	if err != nil {
		return err
	}
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	roots.AppendCertsFromPEM(bundlePEM)
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	return err
}
