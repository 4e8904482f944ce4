package internalca_test

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/identity"
)

// TestRootSecretOnTheAPIServer runs against a real kube-apiserver and etcd.
func TestRootSecretOnTheAPIServer(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	ns := fmt.Sprintf("weft-ca-%d", time.Now().UnixNano())
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}

	t.Run("a replica that does not lead waits for the leader's root and creates none", func(t *testing.T) {
		follower := &internalca.SecretStore{Client: env.Client, Namespace: ns, Name: "led-root",
			Leading: func() bool { return false }, WaitInterval: 20 * time.Millisecond}
		got := make(chan *internalca.RootSet, 1)
		go func() {
			set, err := follower.LoadOrCreate(ctx)
			if err != nil {
				t.Error(err)
			}
			got <- set
		}()
		time.Sleep(200 * time.Millisecond)
		var sec corev1.Secret
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "led-root"}, &sec); !apierrors.IsNotFound(err) {
			t.Fatalf("a follower wrote the root Secret (get: %v)", err)
		}
		leader := &internalca.SecretStore{Client: env.Client, Namespace: ns, Name: "led-root"}
		set, err := leader.LoadOrCreate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		select {
		case f := <-got:
			if f == nil || !f.Signing.Cert.Equal(set.Signing.Cert) {
				t.Error("the follower did not load the leader's root")
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the follower still waits 10s after the leader created the root")
		}
	})

	t.Run("the root survives a restart of the CA", func(t *testing.T) {
		first := &internalca.SecretStore{Client: env.Client, Namespace: ns, Name: "weft-ca-root"}
		set1, err := first.LoadOrCreate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m1 := manager(t, internalca.New(set1, nil))
		leaf1, err := m1.ServiceCertificate(ctx, identity.Identity{Namespace: "bookstore", ServiceAccount: "bookbuyer"})
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
		leaf2, err := m2.ServiceCertificate(ctx, identity.Identity{Namespace: "bookstore", ServiceAccount: "bookthief"})
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
		// The advice must not be to delete it: every proxy trusts the root it holds.
		for _, want := range []string{ns + "/broken-root", "malformed", "tls.crt", "restore tls.crt from a backup",
			"deleting the Secret cuts every proxy off", "--" + internalca.AllowNewRootFlag} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
		if strings.Contains(err.Error(), "fix or delete") {
			t.Errorf("error %q advises deleting the Secret", err)
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
		leaf, err := m.ServiceCertificate(ctx, identity.Identity{Namespace: "bookstore", ServiceAccount: "bookbuyer"})
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

// TestALostRootSecret runs against a real kube-apiserver: the root Secret is
// what every proxy's trust rests on, so losing it must not silently change the
// root.
func TestALostRootSecret(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	ns := fmt.Sprintf("weft-ca-lost-%d", time.Now().UnixNano())
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}

	t.Run("a root Secret deleted while the CA runs is restored from the running root, with a warning", func(t *testing.T) {
		store := &internalca.SecretStore{Client: env.Client, Namespace: ns, Name: "deleted-root"}
		set, err := store.LoadOrCreate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		before := secretData(t, env.Client, ns, "deleted-root")
		authority := internalca.New(set, nil)
		clk := testingclock.NewFakeClock(time.Now())
		var logs syncBuffer
		fctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			store.Follow(fctx, authority, clk, 10*time.Second, slog.New(slog.NewTextHandler(&logs, nil)))
			close(done)
		}()
		defer func() { cancel(); <-done }()

		if err := env.Client.Delete(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "deleted-root"}}); err != nil {
			t.Fatal(err)
		}
		var after map[string][]byte
		testenv.Eventually(t, "the deleted root Secret is restored", func() bool {
			if clk.HasWaiters() {
				clk.Step(10 * time.Second)
			}
			var sec corev1.Secret
			if env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: "deleted-root"}, &sec) != nil {
				return false
			}
			after = sec.Data
			return true
		})
		for _, k := range []string{internalca.KeyCert, internalca.KeyKey, internalca.KeyBundle} {
			if string(after[k]) != string(before[k]) {
				t.Errorf("restored %s differs from the running root's", k)
			}
		}
		if !authority.RootSet().Signing.Cert.Equal(set.Signing.Cert) {
			t.Error("the running root changed")
		}
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "restored") {
			t.Errorf("no warning that the Secret was restored; logs:\n%s", logs.String())
		}
	})

	tests := []struct {
		name         string
		evidence     string
		evidenceErr  error
		allowNewRoot bool
		wantErr      []string
		wantWarning  bool
	}{
		{name: "with nothing trusting an old root (a first install), a root is minted"},
		{
			name:     "when a webhook still trusts the old root, no new root is minted and the error says what is safe",
			evidence: "the caBundle of webhook configuration weft-sidecar-injector",
			wantErr: []string{"the mesh root Secret " + ns + "/missing-root-%d is missing, but the caBundle of webhook configuration weft-sidecar-injector trusts the root it held",
				"restore the Secret from a backup (kubectl apply -f <backup>)", "start weftd with --allow-new-root to mint a new root",
				"restart every meshed workload (kubectl rollout restart deployment -n <namespace>)"},
		},
		{name: "when meshed pods trust the old root and a new root is allowed, one is minted with a warning",
			evidence: "12 meshed pods, e.g. bookstore/bookstore-v1-abc", allowNewRoot: true, wantWarning: true},
		{name: "when what trusts the old root cannot be told, no new root is minted",
			evidenceErr: errors.New("pods is forbidden"), wantErr: []string{"missing-root-%d is missing", "pods is forbidden"}},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name := fmt.Sprintf("missing-root-%d", i)
			var logs syncBuffer
			store := &internalca.SecretStore{Client: env.Client, Namespace: ns, Name: name, AllowNewRoot: tt.allowNewRoot,
				Logger:           slog.New(slog.NewTextHandler(&logs, nil)),
				TrustedElsewhere: func(context.Context) (string, error) { return tt.evidence, tt.evidenceErr }}
			set, err := store.LoadOrCreate(ctx)
			var sec corev1.Secret
			getErr := env.Client.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &sec)
			if len(tt.wantErr) > 0 {
				if err == nil {
					t.Fatal("a new root was minted")
				}
				for _, want := range tt.wantErr {
					if want = strings.ReplaceAll(want, "%d", fmt.Sprint(i)); !strings.Contains(err.Error(), want) {
						t.Errorf("error %q does not say %q", err, want)
					}
				}
				if !apierrors.IsNotFound(getErr) {
					t.Errorf("a root Secret was created (get: %v)", getErr)
				}
				return
			}
			if err != nil || set == nil || getErr != nil {
				t.Fatalf("LoadOrCreate = %v, %v; Secret: %v", set, err, getErr)
			}
			if warned := strings.Contains(logs.String(), "level=WARN"); warned != tt.wantWarning {
				t.Errorf("warning logged: %v, want %v; logs:\n%s", warned, tt.wantWarning, logs.String())
			}
			if tt.wantWarning && !strings.Contains(logs.String(), tt.evidence) {
				t.Errorf("the warning does not say what trusted the old root; logs:\n%s", logs.String())
			}
		})
	}
}

func secretData(t *testing.T, c client.Client, ns, name string) map[string][]byte {
	t.Helper()
	var sec corev1.Secret
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, &sec); err != nil {
		t.Fatal(err)
	}
	return sec.Data
}

// syncBuffer is a bytes.Buffer that a logging goroutine and the test share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func manager(t *testing.T, a *internalca.Authority) *ca.Manager {
	t.Helper()
	m, err := ca.NewManager(ca.Options{Signer: a, TrustDomain: identity.DefaultTrustDomain})
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
