package injector_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// secretsFixture is a real API server (with the controller manager, whose
// garbage collector deletes a Secret with its pod), a CA on a fake clock whose
// issued certificates are counted, and a BootstrapSecrets for mesh "osm".
type secretsFixture struct {
	env      *testenv.Env
	clk      *testingclock.FakeClock
	roots    *internalca.Authority
	manager  *ca.Manager
	registry *prometheus.Registry
	secrets  *injector.BootstrapSecrets
}

func newSecretsFixture(t *testing.T) *secretsFixture {
	t.Helper()
	env := testenv.Start(t, testenv.WithControllerManager())
	clk := testingclock.NewFakeClock(time.Now())
	root, err := internalca.NewRoot("bootstrap secrets test root", internalca.DefaultRootValidity, clk.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	authority := internalca.New(root, clk)
	registry := prometheus.NewRegistry()
	manager, err := ca.NewManager(ca.Options{Signer: authority, Clock: clk, Registerer: registry, TrustDomain: identity.DefaultTrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	return &secretsFixture{env: env, clk: clk, roots: authority, manager: manager, registry: registry,
		secrets: &injector.BootstrapSecrets{
			MeshName: "osm", XDS: injector.XDSEndpointFor("", mesh.Defaults(), 0),
			Certificates: manager, Client: env.Client, Namespaces: injector.NamespacesFrom(env.Client), Clock: clk,
		}}
}

// issued is how many certificates the CA has issued.
func (f *secretsFixture) issued(t *testing.T) float64 {
	t.Helper()
	families, err := f.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var n float64
	for _, mf := range families {
		if mf.GetName() == "weft_ca_certificates_issued_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}

func (f *secretsFixture) namespace(t *testing.T, base string, meshed bool) string {
	t.Helper()
	name := base + "-" + uuid.NewString()[:8]
	labels := map[string]string{}
	if meshed {
		labels[injector.LabelMonitoredBy] = "osm"
	}
	if err := f.env.Client.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}); err != nil {
		t.Fatal(err)
	}
	return name
}

// injectedPod creates, in ns, the pod the webhook would have made of an app
// running as serviceAccount, with proxy id.
func (f *secretsFixture) injectedPod(t *testing.T, ns, serviceAccount, id string) *corev1.Pod {
	t.Helper()
	app := appPod(serviceAccount)
	app.Name = serviceAccount + "-" + uuid.NewString()[:5]
	pod, err := injector.Inject(app, injector.Injection{ProxyID: id})
	if err != nil {
		t.Fatal(err)
	}
	pod.Namespace = ns
	if err := f.env.Client.Create(context.Background(), pod); err != nil {
		t.Fatal(err)
	}
	return pod
}

// reconcile runs one Reconcile of pod as Run would.
func (f *secretsFixture) reconcile(t *testing.T, pod *corev1.Pod) (time.Time, string) {
	t.Helper()
	ctx := context.Background()
	next, skipped, err := f.secrets.Reconcile(ctx, pod, func() ([]corev1.Pod, error) {
		var list corev1.PodList
		err := f.env.Client.List(ctx, &list, client.InNamespace(pod.Namespace), client.MatchingLabels{injector.LabelProxyUUID: pod.Labels[injector.LabelProxyUUID]})
		return list.Items, err
	})
	if err != nil {
		t.Fatal(err)
	}
	return next, skipped
}

func (f *secretsFixture) secret(t *testing.T, ns, id string) *corev1.Secret {
	t.Helper()
	var s corev1.Secret
	if err := f.env.Client.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: injector.BootstrapSecretName(id)}, &s); err != nil {
		t.Fatal(err)
	}
	return &s
}

// proxyIn verifies the Secret's certificate against the mesh's roots and
// returns the proxy it names.
func (f *secretsFixture) proxyIn(t *testing.T, s *corev1.Secret) ca.Proxy {
	t.Helper()
	chain, err := ca.ParseCertificatesPEM(s.Data[injector.CertChainFileName])
	if err != nil {
		t.Fatal(err)
	}
	p, err := ca.VerifyProxyCertificate(chain, f.manager.BundlePool(), "cluster.local", f.clk.Now())
	if err != nil {
		t.Fatalf("Secret %s/%s: %v", s.Namespace, s.Name, err)
	}
	return p
}

// forgedProxySecret is what a tenant can write: a Secret with the bootstrap
// Secret's name and labels holding a self-signed, expired certificate shaped
// like the proxy certificate of victim.
func forgedProxySecret(t *testing.T, ns, id string, victim identity.Identity) *corev1.Secret {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	p := ca.Proxy{ID: id, Kind: ca.ProxySidecar, Identity: victim}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: p.CommonName("cluster.local")},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		URIs: []*url.URL{p.URI("cluster.local")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: injector.BootstrapSecretName(id), Namespace: ns, Labels: map[string]string{
			injector.LabelProxyUUID: id, injector.LabelManagedBy: "weft", "app.kubernetes.io/component": "envoy-bootstrap",
		}},
		Data: map[string][]byte{injector.CertChainFileName: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), "extra": []byte("x")},
	}
}

// TestBootstrapSecrets shows on a real API server that bootstrap Secrets are
// written for pods that exist and only for them, with the identity of the pod
// and never one a Secret claims, are renewed and follow root changes, and go
// with their pods.
func TestBootstrapSecrets(t *testing.T) {
	f := newSecretsFixture(t)
	ctx := context.Background()
	meshedNS := f.namespace(t, "bookstore", true)
	plainNS := f.namespace(t, "tenant", false)
	bookstore := identity.Identity{Namespace: meshedNS, ServiceAccount: "bookstore"}

	var pod *corev1.Pod
	t.Run("an injected pod gets a Secret owned by it, naming its own identity", func(t *testing.T) {
		id := uuid.NewString()
		pod = f.injectedPod(t, meshedNS, "bookstore", id)
		next, skipped := f.reconcile(t, pod)
		if skipped != "" || next.IsZero() {
			t.Fatalf("skipped %q, next %v", skipped, next)
		}
		s := f.secret(t, meshedNS, id)
		if got, want := f.proxyIn(t, s), (ca.Proxy{ID: id, Kind: ca.ProxySidecar, Identity: bookstore}); got != want {
			t.Errorf("certificate names %v, want %v", got, want)
		}
		if !metav1.IsControlledBy(s, pod) {
			t.Errorf("Secret owners %v, want the pod %s", s.OwnerReferences, pod.UID)
		}
		if !bytes.Equal(s.Data[injector.TrustedCAFileName], f.manager.Bundle()) {
			t.Error("ca.crt is not the mesh's bundle")
		}
	})

	t.Run("a current Secret is left alone and nothing is issued", func(t *testing.T) {
		before, issued := f.secret(t, meshedNS, pod.Labels[injector.LabelProxyUUID]), f.issued(t)
		f.secrets.Forget(pod.UID) // as after a restart: the Secret is read and verified
		f.reconcile(t, pod)
		after := f.secret(t, meshedNS, pod.Labels[injector.LabelProxyUUID])
		if after.ResourceVersion != before.ResourceVersion || f.issued(t) != issued {
			t.Errorf("Secret rewritten (resource version %s → %s) or certificates issued (%v → %v)", before.ResourceVersion, after.ResourceVersion, issued, f.issued(t))
		}
	})

	t.Run("a Secret planted with the bootstrap labels in an unmeshed namespace gets nothing, even beside a hand-made pod", func(t *testing.T) {
		id := uuid.NewString()
		planted := forgedProxySecret(t, plainNS, id, bookstore)
		if err := f.env.Client.Create(ctx, planted); err != nil {
			t.Fatal(err)
		}
		handMade := f.injectedPod(t, plainNS, "bookstore", id)
		issued := f.issued(t)
		if _, skipped := f.reconcile(t, handMade); !strings.Contains(skipped, "is not monitored by mesh") {
			t.Errorf("skipped %q, want the namespace named as not monitored", skipped)
		}
		got := f.secret(t, plainNS, id)
		if !bytes.Equal(got.Data[injector.CertChainFileName], planted.Data[injector.CertChainFileName]) || got.Data[injector.PrivateKeyFileName] != nil {
			t.Error("the planted Secret was written to")
		}
		if f.issued(t) != issued {
			t.Errorf("%v certificates issued, want none", f.issued(t)-issued)
		}
	})

	t.Run("a Secret planted under a live pod's Secret name is replaced by one for the pod's own identity", func(t *testing.T) {
		id := uuid.NewString()
		other := identity.Identity{Namespace: plainNS, ServiceAccount: "admin"}
		if err := f.env.Client.Create(ctx, forgedProxySecret(t, meshedNS, id, other)); err != nil {
			t.Fatal(err)
		}
		web := f.injectedPod(t, meshedNS, "web", id)
		f.reconcile(t, web)
		s := f.secret(t, meshedNS, id)
		if got, want := f.proxyIn(t, s), (ca.Proxy{ID: id, Kind: ca.ProxySidecar, Identity: identity.Identity{Namespace: meshedNS, ServiceAccount: "web"}}); got != want {
			t.Errorf("certificate names %v, want %v", got, want)
		}
		if _, ok := s.Data["extra"]; ok || !metav1.IsControlledBy(s, web) {
			t.Errorf("the planted content or owner survived: keys %d, owners %v", len(s.Data), s.OwnerReferences)
		}
	})

	t.Run("a proxy UUID that two pods claim is served to neither", func(t *testing.T) {
		id := uuid.NewString()
		first := f.injectedPod(t, meshedNS, "bookstore", id)
		second := f.injectedPod(t, meshedNS, "thief", id)
		for _, p := range []*corev1.Pod{first, second} {
			if _, skipped := f.reconcile(t, p); !strings.Contains(skipped, "carries the same osm-proxy-uuid label") {
				t.Errorf("pod %s: skipped %q, want the duplicate named", p.Name, skipped)
			}
		}
		var s corev1.Secret
		if err := f.env.Client.Get(ctx, client.ObjectKey{Namespace: meshedNS, Name: injector.BootstrapSecretName(id)}, &s); !apierrors.IsNotFound(err) {
			t.Errorf("Secret of a contested UUID: err %v, want not found", err)
		}
	})

	t.Run("a due certificate is replaced by one for the same proxy", func(t *testing.T) {
		id := pod.Labels[injector.LabelProxyUUID]
		before := f.secret(t, meshedNS, id)
		next, _ := f.reconcile(t, pod)
		f.clk.SetTime(next.Add(time.Second))
		f.reconcile(t, pod)
		after := f.secret(t, meshedNS, id)
		if bytes.Equal(after.Data[injector.CertChainFileName], before.Data[injector.CertChainFileName]) {
			t.Fatal("the certificate was not replaced")
		}
		if got := f.proxyIn(t, after); got.ID != id || got.Identity != bookstore {
			t.Errorf("renewed certificate names %v", got)
		}
	})

	t.Run("a new signing CA whose root was already trusted makes a current Secret due", func(t *testing.T) {
		id := pod.Labels[injector.LabelProxyUUID]
		next, err := internalca.NewRoot("bootstrap secrets signing root", internalca.DefaultRootValidity, f.clk.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		// Step 1 of a rotation: trust the new root. The Secret takes the new
		// bundle.
		f.roots.SetRoots(f.roots.RootSet().AddTrusted(next.Signing.Cert))
		if _, err := f.manager.RenewDue(ctx); err != nil { // the CA's loop notices new roots here
			t.Fatal(err)
		}
		f.reconcile(t, pod)
		trusted := f.secret(t, meshedNS, id)
		if !bytes.Equal(trusted.Data[injector.TrustedCAFileName], f.manager.Bundle()) {
			t.Fatal("the Secret does not hold the bundle with the new root")
		}
		// Step 2: the new root signs; the bundle is unchanged.
		signing, err := f.roots.RootSet().WithSigning(next.Signing, f.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		f.roots.SetRoots(signing)
		if _, err := f.manager.RenewDue(ctx); err != nil {
			t.Fatal(err)
		}
		f.reconcile(t, pod)
		chain, err := ca.ParseCertificatesPEM(f.secret(t, meshedNS, id).Data[injector.CertChainFileName])
		if err != nil {
			t.Fatal(err)
		}
		if chain[0].CheckSignatureFrom(next.Signing.Cert) != nil {
			t.Errorf("the Secret's certificate is still signed by the old CA (issuer %q)", chain[0].Issuer)
		}
	})

	t.Run("Run writes a new pod's Secret, rewrites it at once when a new root signs, and the Secret goes with its pod", func(t *testing.T) {
		pods, err := cache.New(f.env.Config, cache.Options{Scheme: f.env.Scheme})
		if err != nil {
			t.Fatal(err)
		}
		runCtx, stop := context.WithCancel(ctx)
		defer stop()
		go func() { _ = pods.Start(runCtx) }()
		done := make(chan error, 1)
		go func() { done <- f.secrets.Run(runCtx, pods, time.Hour) }()

		id := uuid.NewString()
		p := f.injectedPod(t, meshedNS, "bookstore", id)
		var first *corev1.Secret
		testenv.Eventually(t, "the new pod's Secret", func() bool {
			var s corev1.Secret
			if f.env.Client.Get(ctx, client.ObjectKey{Namespace: meshedNS, Name: injector.BootstrapSecretName(id)}, &s) != nil {
				return false
			}
			first = &s
			return true
		})

		next, err := internalca.NewRoot("bootstrap secrets test root 2", internalca.DefaultRootValidity, f.clk.Now().Add(-time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		rotated, err := f.roots.RootSet().AddTrusted(next.Signing.Cert).WithSigning(next.Signing, f.clk.Now())
		if err != nil {
			t.Fatal(err)
		}
		f.roots.SetRoots(rotated)
		if _, err := f.manager.RenewDue(ctx); err != nil { // the CA's loop notices new roots here
			t.Fatal(err)
		}
		testenv.Eventually(t, "the Secret's certificate signed by the new root", func() bool {
			s := f.secret(t, meshedNS, id)
			chain, err := ca.ParseCertificatesPEM(s.Data[injector.CertChainFileName])
			return err == nil && !bytes.Equal(s.Data[injector.CertChainFileName], first.Data[injector.CertChainFileName]) &&
				chain[0].CheckSignatureFrom(next.Signing.Cert) == nil && bytes.Equal(s.Data[injector.TrustedCAFileName], f.manager.Bundle())
		})

		if err := f.env.Client.Delete(ctx, p); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, "the Secret deleted with its pod", func() bool {
			var s corev1.Secret
			return apierrors.IsNotFound(f.env.Client.Get(ctx, client.ObjectKey{Namespace: meshedNS, Name: injector.BootstrapSecretName(id)}, &s))
		})
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after its context ended, want nil", err)
		}
	})
}

func TestProxyOfGatewayPod(t *testing.T) {
	pod := func(sa, gw string) *corev1.Pod {
		id := "6f1c9d2e-0000-4000-8000-000000000001"
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "p", Labels: map[string]string{injector.LabelProxyUUID: id},
				Annotations: map[string]string{injector.AnnotationGateway: gw}},
			Spec: corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: injector.EnvoyContainerName}},
				Volumes: []corev1.Volume{{Name: injector.BootstrapVolumeName, VolumeSource: corev1.VolumeSource{
					Secret: &corev1.SecretVolumeSource{SecretName: injector.BootstrapSecretName(id)}}}}},
		}
	}
	for _, tc := range []struct {
		name, sa, gw string
		ok           bool
	}{
		{"the Gateway's own service account is a gateway", "ingress-weft-gateway", "ingress", true},
		{"another service account is refused", "web", "ingress", false},
		{"an empty Gateway name is refused", "-weft-gateway", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := injector.ProxyOfPod(pod(tc.sa, tc.gw))
			if (err == nil) != tc.ok {
				t.Fatalf("ProxyOfPod: %v, want ok %v", err, tc.ok)
			}
			if tc.ok && p.Kind != ca.ProxyGateway {
				t.Errorf("kind %s, want gateway", p.Kind)
			}
		})
	}
}
