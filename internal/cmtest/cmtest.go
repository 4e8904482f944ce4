// Package cmtest stands in for cert-manager in tests. cert-manager's
// controller cannot be built here (its main module is not on the module
// proxy), so tests install its CRDs from the cert-manager module (deploy/crds)
// on a real API server and let Signer do what its CA issuer would: approve each
// CertificateRequest, sign it with a test CA, and set status.certificate,
// status.ca and the Ready condition. Only tests may import it.
package cmtest

import (
	"context"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"math/big"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	cmclient "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/internal/testenv"
)

// InstallCRDs installs the cert-manager.io CRDs shipped in the cert-manager
// module's deploy/crds.
func InstallCRDs(t testing.TB, env *testenv.Env) {
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

// Sign plays cert-manager's CA issuer for the CertificateRequests created in
// ns from now on (the watch is open when it returns), until ctx ends: it
// approves and signs each with testCA, or denies it when its CSR's common name
// starts with "denied.". Each request it answered is offered to seen (when not
// nil) without blocking.
func Sign(ctx context.Context, t testing.TB, cm cmclient.Interface, ns string, testCA *internalca.RootSet, seen chan<- *cmapi.CertificateRequest) {
	t.Helper()
	crs := cm.CertmanagerV1().CertificateRequests(ns)
	w, err := crs.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		defer w.Stop()
		for ev := range w.ResultChan() {
			cr, ok := ev.Object.(*cmapi.CertificateRequest)
			if !ok || len(cr.Status.Conditions) > 0 || ev.Type != watch.Added {
				continue
			}
			if err := answer(cr, testCA); err != nil {
				t.Errorf("CertificateRequest %s: %v", cr.Name, err)
				continue
			}
			if _, err := crs.UpdateStatus(ctx, cr, metav1.UpdateOptions{}); err != nil && ctx.Err() == nil {
				t.Errorf("updating CertificateRequest %s: %v", cr.Name, err)
			}
			if seen != nil {
				select {
				case seen <- cr:
				default:
				}
			}
		}
	}()
}

// answer fills cr's status as cert-manager would.
func answer(cr *cmapi.CertificateRequest, testCA *internalca.RootSet) error {
	block, _ := pem.Decode(cr.Spec.Request)
	if block == nil {
		return errors.New("spec.request is not a PEM CSR")
	}
	csr, err := x509.ParseCertificateRequest(block.Bytes)
	if err != nil {
		return err
	}
	if err := csr.CheckSignature(); err != nil {
		return err
	}
	now := metav1.Now()
	if strings.HasPrefix(csr.Subject.CommonName, "denied.") {
		cr.Status.Conditions = []cmapi.CertificateRequestCondition{{Type: cmapi.CertificateRequestConditionDenied, Status: cmmeta.ConditionTrue,
			Reason: "PolicyDenied", Message: "not allowed", LastTransitionTime: &now}}
		return nil
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: csr.Subject, DNSNames: csr.DNSNames, URIs: csr.URIs,
		NotBefore: time.Now().Add(-time.Minute), NotAfter: time.Now().Add(-time.Minute).Add(cr.Spec.Duration.Duration),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: extKeyUsages(cr.Spec.Usages),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, testCA.Signing.Cert, csr.PublicKey, testCA.Signing.Key)
	if err != nil {
		return err
	}
	cr.Status.Certificate = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	cr.Status.CA = ca.EncodeCertificatesPEM(testCA.Signing.Cert)
	cr.Status.Conditions = []cmapi.CertificateRequestCondition{
		{Type: cmapi.CertificateRequestConditionApproved, Status: cmmeta.ConditionTrue, Reason: "test", Message: "approved by the test", LastTransitionTime: &now},
		{Type: cmapi.CertificateRequestConditionReady, Status: cmmeta.ConditionTrue, Reason: cmapi.CertificateRequestReasonIssued, Message: "signed by the test", LastTransitionTime: &now},
	}
	return nil
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
