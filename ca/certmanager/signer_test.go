package certmanager_test

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"math/big"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	cmclient "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/certmanager"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/identity"
)

// TestCertManagerSignerOnTheAPIServer runs against a real kube-apiserver with
// cert-manager's CRDs installed from the cert-manager module (deploy/crds).
// cert-manager's controller cannot be built here (its main module is not on
// the module proxy), so the test plays its part: it approves each
// CertificateRequest, signs it with a test CA and sets status.certificate,
// status.ca and the Ready condition, as cert-manager's CA issuer would.
func TestCertManagerSignerOnTheAPIServer(t *testing.T) {
	env := testenv.Start(t)
	installCertManagerCRDs(t, env)
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
	go actAsCertManager(ctx, t, cm, ns, testCA, seen)

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

// actAsCertManager approves and signs every CertificateRequest in ns with
// testCA, denying those for a CN starting with "denied.".
func actAsCertManager(ctx context.Context, t *testing.T, cm cmclient.Interface, ns string, testCA *internalca.RootSet, seen chan<- *cmapi.CertificateRequest) {
	crs := cm.CertmanagerV1().CertificateRequests(ns)
	w, err := crs.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Error(err)
		return
	}
	defer w.Stop()
	for ev := range w.ResultChan() {
		cr, ok := ev.Object.(*cmapi.CertificateRequest)
		if !ok || len(cr.Status.Conditions) > 0 || ev.Type != "ADDED" {
			continue
		}
		block, _ := pem.Decode(cr.Spec.Request)
		csr, err := x509.ParseCertificateRequest(block.Bytes)
		if err != nil || csr.CheckSignature() != nil {
			t.Errorf("CertificateRequest %s: bad CSR: %v", cr.Name, err)
			continue
		}
		now := metav1.Now()
		if strings.HasPrefix(csr.Subject.CommonName, "denied.") {
			cr.Status.Conditions = []cmapi.CertificateRequestCondition{{Type: cmapi.CertificateRequestConditionDenied, Status: cmmeta.ConditionTrue, Reason: "PolicyDenied", Message: "not allowed", LastTransitionTime: &now}}
		} else {
			tmpl := &x509.Certificate{
				SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: csr.Subject, DNSNames: csr.DNSNames, URIs: csr.URIs,
				NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(-time.Minute).Add(cr.Spec.Duration.Duration),
				KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: extKeyUsages(cr.Spec.Usages),
			}
			der, err := x509.CreateCertificate(rand.Reader, tmpl, testCA.Signing.Cert, csr.PublicKey, testCA.Signing.Key)
			if err != nil {
				t.Error(err)
				continue
			}
			cr.Status.Certificate = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
			cr.Status.CA = ca.EncodeCertificatesPEM(testCA.Signing.Cert)
			cr.Status.Conditions = []cmapi.CertificateRequestCondition{
				{Type: cmapi.CertificateRequestConditionApproved, Status: cmmeta.ConditionTrue, Reason: "test", Message: "approved by the test", LastTransitionTime: &now},
				{Type: cmapi.CertificateRequestConditionReady, Status: cmmeta.ConditionTrue, Reason: cmapi.CertificateRequestReasonIssued, Message: "signed by the test", LastTransitionTime: &now},
			}
		}
		if _, err := crs.UpdateStatus(ctx, cr, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
			t.Errorf("updating CertificateRequest %s: %v", cr.Name, err)
		}
		seen <- cr
	}
}

func extKeyUsages(usages []cmapi.KeyUsage) []x509.ExtKeyUsage {
	var out []x509.ExtKeyUsage
	for _, u := range usages {
		switch u {
		case cmapi.UsageServerAuth:
			out = append(out, x509.ExtKeyUsageServerAuth)
		case cmapi.UsageClientAuth:
			out = append(out, x509.ExtKeyUsageClientAuth)
		}
	}
	return out
}

// installCertManagerCRDs installs the cert-manager.io CRDs shipped in the
// cert-manager module's deploy/crds.
func installCertManagerCRDs(t *testing.T, env *testenv.Env) {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/cert-manager/cert-manager").Output()
	if err != nil {
		t.Fatalf("locating the cert-manager module: %v", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "deploy", "crds")
	var paths []string
	for _, kind := range []string{"certificaterequests", "certificates", "issuers", "clusterissuers"} {
		paths = append(paths, filepath.Join(dir, "cert-manager.io_"+kind+".yaml"))
	}
	if _, err := envtest.InstallCRDs(env.Config, envtest.CRDInstallOptions{Paths: paths, ErrorIfPathMissing: true}); err != nil {
		t.Fatalf("installing cert-manager CRDs from %s: %v", dir, err)
	}
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
