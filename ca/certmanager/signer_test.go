package certmanager_test

import (
	"context"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	cmclient "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/certmanager"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/internal/cmtest"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/identity"
)

// TestCertManagerSignerOnTheAPIServer runs against a real kube-apiserver with
// cert-manager's CRDs installed from the cert-manager module (deploy/crds).
// cert-manager's controller cannot be built here, so cmtest.Sign stands in for
// it: it approves each CertificateRequest, signs it with a test CA and sets
// status.certificate, status.ca and the Ready condition, as cert-manager's CA
// issuer would.
func TestCertManagerSignerOnTheAPIServer(t *testing.T) {
	env := testenv.Start(t)
	cmtest.InstallCRDs(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cm, err := cmclient.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("weft-cm-%d", time.Now().UnixNano())
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	issuerSpec := cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: "mesh-ca"}}}
	if _, err := cm.CertmanagerV1().Issuers(ns).Create(ctx, &cmapi.Issuer{ObjectMeta: metav1.ObjectMeta{Name: "mesh-issuer"}, Spec: issuerSpec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cm.CertmanagerV1().ClusterIssuers().Create(ctx, &cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "mesh-cluster-issuer"}, Spec: issuerSpec}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testCA, err := internalca.NewRoot("cert-manager test CA", 365*24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan *cmapi.CertificateRequest, 100)
	cmtest.Sign(ctx, t, cm, ns, testCA, seen)

	t.Run("a service certificate comes from an Issuer and verifies against the CA cert-manager reports", func(t *testing.T) {
		signer, err := certmanager.New(certmanager.Options{Client: cm, Namespace: ns, IssuerRef: cmmeta.IssuerReference{Name: "mesh-issuer", Kind: "Issuer"}})
		if err != nil {
			t.Fatal(err)
		}
		m, err := ca.NewManager(ca.Options{Signer: signer, TrustDomain: identity.DefaultTrustDomain})
		if err != nil {
			t.Fatal(err)
		}
		c, err := m.ServiceCertificate(ctx, identity.Identity{Namespace: "bookstore", ServiceAccount: "bookbuyer"})
		if err != nil {
			t.Fatal(err)
		}
		if c.Leaf.Subject.CommonName != "bookbuyer.bookstore.cluster.local" || len(c.Leaf.URIs) != 1 ||
			c.Leaf.URIs[0].String() != "spiffe://cluster.local/ns/bookstore/sa/bookbuyer" {
			t.Errorf("leaf names %q %v", c.Leaf.Subject.CommonName, c.Leaf.URIs)
		}
		if err := verify(c, m.Bundle(), x509.ExtKeyUsageServerAuth); err != nil {
			t.Errorf("x509.Verify against the bundle: %v", err)
		}
		if c.Leaf.NotAfter.Sub(c.Leaf.NotBefore) != 24*time.Hour {
			t.Errorf("lifetime %s, want the requested 24h", c.Leaf.NotAfter.Sub(c.Leaf.NotBefore))
		}
		cr := <-seen
		if cr.Spec.IssuerRef.Name != "mesh-issuer" || cr.Spec.IssuerRef.Kind != "Issuer" || cr.Spec.IssuerRef.Group != "cert-manager.io" {
			t.Errorf("issuerRef %+v", cr.Spec.IssuerRef)
		}
		if !slices.Contains(cr.Spec.Usages, cmapi.UsageServerAuth) || !slices.Contains(cr.Spec.Usages, cmapi.UsageClientAuth) {
			t.Errorf("usages %v, want server and client auth", cr.Spec.Usages)
		}
		list, err := cm.CertmanagerV1().CertificateRequests(ns).List(ctx, metav1.ListOptions{})
		if err != nil || len(list.Items) != 0 {
			t.Errorf("%d CertificateRequests left behind (%v), want them deleted", len(list.Items), err)
		}
	})

	t.Run("a proxy certificate comes from a ClusterIssuer with a configured trust bundle", func(t *testing.T) {
		signer, err := certmanager.New(certmanager.Options{Client: cm, Namespace: ns,
			IssuerRef:      cmmeta.IssuerReference{Name: "mesh-cluster-issuer", Kind: "ClusterIssuer"},
			TrustBundlePEM: ca.EncodeCertificatesPEM(testCA.Signing.Cert)})
		if err != nil {
			t.Fatal(err)
		}
		m, err := ca.NewManager(ca.Options{Signer: signer, TrustDomain: identity.DefaultTrustDomain})
		if err != nil {
			t.Fatal(err)
		}
		proxy := ca.Proxy{ID: "6f1c2c8e-3d1b-4a5e-9a53-0f6f7f4c2b10", Kind: ca.ProxyGateway, Identity: identity.Identity{Namespace: "ingress", ServiceAccount: "gw"}}
		c, err := m.ProxyCertificate(ctx, proxy)
		if err != nil {
			t.Fatal(err)
		}
		got, err := m.VerifyProxyCertificate([]*x509.Certificate{c.Leaf})
		if err != nil || got != proxy {
			t.Fatalf("VerifyProxyCertificate = %v, %v; want %v", got, err, proxy)
		}
		if cr := <-seen; cr.Spec.IssuerRef.Kind != "ClusterIssuer" || slices.Contains(cr.Spec.Usages, cmapi.UsageServerAuth) {
			t.Errorf("issuerRef %+v usages %v; want the ClusterIssuer and no server auth", cr.Spec.IssuerRef, cr.Spec.Usages)
		}
	})

	t.Run("a denied request is an error naming the request and the reason", func(t *testing.T) {
		signer, _ := certmanager.New(certmanager.Options{Client: cm, Namespace: ns, IssuerRef: cmmeta.IssuerReference{Name: "mesh-issuer"}})
		m, _ := ca.NewManager(ca.Options{Signer: signer, TrustDomain: identity.DefaultTrustDomain})
		_, err := m.ServiceCertificate(ctx, identity.Identity{Namespace: "bookstore", ServiceAccount: "denied"})
		if err == nil || !strings.Contains(err.Error(), "CertificateRequest "+ns+"/weft-") || !strings.Contains(err.Error(), "denied: PolicyDenied") {
			t.Fatalf("error = %v", err)
		}
		<-seen
	})
}

func verify(c *ca.Certificate, bundlePEM []byte, usage x509.ExtKeyUsage) error {
	chain, err := ca.ParseCertificatesPEM(c.CertChainPEM)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(bundlePEM)
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}
