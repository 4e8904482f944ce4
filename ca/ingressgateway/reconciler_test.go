package ingressgateway_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/ingressgateway"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/internal/testenv"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/identity"
)

// TestIngressGatewaySecretOnTheAPIServer runs against a real kube-apiserver
// and etcd: first Reconcile called directly with a fake clock, then Run
// following edits of the MeshConfig object itself.
func TestIngressGatewaySecretOnTheAPIServer(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	suffix := time.Now().UnixNano()
	meshNS, appNS := fmt.Sprintf("weft-mesh-%d", suffix), fmt.Sprintf("ingress-%d", suffix)
	for _, ns := range []string{meshNS, appNS} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
	}
	clk := testingclock.NewFakeClock(time.Now().Truncate(time.Second))
	roots, err := internalca.NewRoot("test root", internalca.DefaultRootValidity, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, err := ca.NewManager(ca.Options{Signer: internalca.New(roots, clk), Clock: clk, TrustDomain: identity.DefaultTrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	r := ingressgateway.NewReconciler(ingressgateway.APIStore{Client: env.Client}, m, meshNS, clk, nil)
	meshConfig := func(section *configv1alpha2.IngressGatewayCertSpec) *configv1alpha2.MeshConfig {
		mc := &configv1alpha2.MeshConfig{ObjectMeta: metav1.ObjectMeta{Namespace: meshNS, Name: configv1alpha2.DefaultMeshConfigName}}
		mc.Spec.Certificate.IngressGateway = section
		return mc
	}
	section := func(name string, validity string, sans ...string) *configv1alpha2.IngressGatewayCertSpec {
		return &configv1alpha2.IngressGatewayCertSpec{SubjectAltNames: sans, ValidityDuration: validity,
			Secret: corev1.SecretReference{Name: name, Namespace: appNS}}
	}
	get := func(t *testing.T, name string) (*corev1.Secret, *x509.Certificate) {
		t.Helper()
		var sec corev1.Secret
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: appNS, Name: name}, &sec); err != nil {
			t.Fatal(err)
		}
		certs, err := ca.ParseCertificatesPEM(sec.Data["tls.crt"])
		if err != nil {
			t.Fatal(err)
		}
		return &sec, certs[0]
	}

	var first *x509.Certificate
	var firstVersion string
	t.Run("setting the section creates a kubernetes.io/tls Secret with the SANs, validity and ca.crt", func(t *testing.T) {
		res, err := r.Reconcile(ctx, meshConfig(section("osm-nginx-client-cert", "2h", "ingress-nginx.ingress.cluster.local", "nginx.example.com")))
		if err != nil {
			t.Fatal(err)
		}
		sec, leaf := get(t, "osm-nginx-client-cert")
		first, firstVersion = leaf, sec.ResourceVersion
		if sec.Type != corev1.SecretTypeTLS || len(sec.Data["tls.key"]) == 0 {
			t.Errorf("type %q with %d key bytes", sec.Type, len(sec.Data["tls.key"]))
		}
		if !slices.Equal(leaf.DNSNames, []string{"ingress-nginx.ingress.cluster.local", "nginx.example.com"}) || leaf.Subject.CommonName != "ingress-nginx.ingress.cluster.local" {
			t.Errorf("CN %q SANs %v", leaf.Subject.CommonName, leaf.DNSNames)
		}
		if got := leaf.NotAfter.Sub(clk.Now()); got != 2*time.Hour {
			t.Errorf("valid for %s from now, want 2h", got)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(sec.Data["ca.crt"])
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: clk.Now(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("x509.Verify against ca.crt: %v", err)
		}
		if sec.Labels["app.kubernetes.io/managed-by"] != "weft" {
			t.Errorf("labels %v", sec.Labels)
		}
		if !res.RenewAt.After(clk.Now()) || !res.RenewAt.Before(leaf.NotAfter) {
			t.Errorf("renew at %s, want between now and expiry %s", res.RenewAt, leaf.NotAfter)
		}
	})

	t.Run("reconciling an unchanged section leaves the Secret alone", func(t *testing.T) {
		if _, err := r.Reconcile(ctx, meshConfig(section("osm-nginx-client-cert", "2h", "ingress-nginx.ingress.cluster.local", "nginx.example.com"))); err != nil {
			t.Fatal(err)
		}
		if sec, _ := get(t, "osm-nginx-client-cert"); sec.ResourceVersion != firstVersion {
			t.Error("the Secret was rewritten")
		}
	})

	t.Run("the certificate is renewed at its renewal time, before it expires", func(t *testing.T) {
		clk.SetTime(m.RenewalTime(first))
		if _, err := r.Reconcile(ctx, meshConfig(section("osm-nginx-client-cert", "2h", "ingress-nginx.ingress.cluster.local", "nginx.example.com"))); err != nil {
			t.Fatal(err)
		}
		_, leaf := get(t, "osm-nginx-client-cert")
		if leaf.SerialNumber.Cmp(first.SerialNumber) == 0 {
			t.Fatal("not renewed")
		}
		if !clk.Now().Before(first.NotAfter) {
			t.Fatal("renewed after expiry")
		}
	})

	t.Run("changing the SANs replaces the certificate", func(t *testing.T) {
		if _, err := r.Reconcile(ctx, meshConfig(section("osm-nginx-client-cert", "2h", "contour.ingress.cluster.local"))); err != nil {
			t.Fatal(err)
		}
		if _, leaf := get(t, "osm-nginx-client-cert"); !slices.Equal(leaf.DNSNames, []string{"contour.ingress.cluster.local"}) {
			t.Fatalf("SANs %v", leaf.DNSNames)
		}
	})

	t.Run("moving the Secret creates the new one and deletes the old", func(t *testing.T) {
		if _, err := r.Reconcile(ctx, meshConfig(section("contour-client-cert", "2h", "contour.ingress.cluster.local"))); err != nil {
			t.Fatal(err)
		}
		get(t, "contour-client-cert")
		if err := env.Client.Get(ctx, types.NamespacedName{Namespace: appNS, Name: "osm-nginx-client-cert"}, &corev1.Secret{}); !apierrors.IsNotFound(err) {
			t.Fatalf("old Secret: %v, want it deleted", err)
		}
	})

	userSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: appNS, Name: "users-own"}, StringData: map[string]string{"tls.crt": "mine"}}
	if err := env.Client.Create(ctx, userSecret); err != nil {
		t.Fatal(err)
	}
	t.Run("a Secret Weft did not create is never overwritten", func(t *testing.T) {
		_, err := r.Reconcile(ctx, meshConfig(section("users-own", "2h", "contour.ingress.cluster.local")))
		if err == nil || !strings.Contains(err.Error(), appNS+"/users-own") || !strings.Contains(err.Error(), "not created by Weft") {
			t.Fatalf("error = %v", err)
		}
		sec, _ := getRaw(ctx, env.Client, appNS, "users-own")
		if string(sec.Data["tls.crt"]) != "mine" {
			t.Error("the user's Secret was modified")
		}
	})

	t.Run("removing the section deletes Weft's Secret and only Weft's", func(t *testing.T) {
		if _, err := r.Reconcile(ctx, meshConfig(nil)); err != nil {
			t.Fatal(err)
		}
		if _, err := getRaw(ctx, env.Client, appNS, "contour-client-cert"); !apierrors.IsNotFound(err) {
			t.Fatalf("managed Secret: %v, want it deleted", err)
		}
		if _, err := getRaw(ctx, env.Client, appNS, "users-own"); err != nil {
			t.Fatalf("the user's Secret: %v", err)
		}
	})

	t.Run("Run follows edits of the MeshConfig: create, change, remove", func(t *testing.T) {
		rctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- r.Run(rctx, env.Config, env.Scheme, clk) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		}()
		mc := meshConfig(section("gateway-cert", "24h", "gw.ingress.cluster.local"))
		if err := env.Client.Create(ctx, mc); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, "the Secret is created", func() bool {
			sec, err := getRaw(ctx, env.Client, appNS, "gateway-cert")
			return err == nil && strings.Contains(string(sec.Data["tls.crt"]), "CERTIFICATE")
		})
		mc.Spec.Certificate.IngressGateway.SubjectAltNames = []string{"gw2.ingress.cluster.local"}
		if err := env.Client.Update(ctx, mc); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, "the Secret holds the new SAN", func() bool {
			sec, err := getRaw(ctx, env.Client, appNS, "gateway-cert")
			if err != nil {
				return false
			}
			certs, err := ca.ParseCertificatesPEM(sec.Data["tls.crt"])
			return err == nil && slices.Equal(certs[0].DNSNames, []string{"gw2.ingress.cluster.local"})
		})
		mc.Spec.Certificate.IngressGateway = nil
		if err := env.Client.Update(ctx, mc); err != nil {
			t.Fatal(err)
		}
		testenv.Eventually(t, "the Secret is removed", func() bool {
			_, err := getRaw(ctx, env.Client, appNS, "gateway-cert")
			return apierrors.IsNotFound(err)
		})
	})
}

func getRaw(ctx context.Context, c client.Client, ns, name string) (*corev1.Secret, error) {
	var sec corev1.Secret
	err := c.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, &sec)
	return &sec, err
}
