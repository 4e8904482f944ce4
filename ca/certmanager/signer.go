package certmanager

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	cmclient "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/watch"

	"github.com/weft-mesh/weft/ca"
)

// Options configure a Signer.
type Options struct {
	// Client is cert-manager's clientset.
	Client cmclient.Interface
	// Namespace is where CertificateRequests are created (the mesh
	// namespace); an Issuer must live there too.
	Namespace string
	// IssuerRef names the Issuer or ClusterIssuer (Kind "Issuer" or
	// "ClusterIssuer", Group "cert-manager.io" or an external issuer's).
	IssuerRef cmmeta.IssuerReference
	// TrustBundlePEM is the root(s) the issuer chains to. When empty, the CA
	// each CertificateRequest reports in status.ca is trusted instead.
	TrustBundlePEM []byte
	// Timeout bounds the wait for one certificate; default 30s.
	Timeout time.Duration
	// Logger; default discards.
	Logger *slog.Logger
}

// Signer is a ca.Signer that goes through cert-manager CertificateRequests.
type Signer struct {
	opts       Options
	configured []*x509.Certificate

	mu      sync.Mutex
	learned []*x509.Certificate
	signing *x509.Certificate
}

var (
	_ ca.Signer       = (*Signer)(nil)
	_ ca.RootProvider = (*Signer)(nil)
)

// LabelManagedBy marks the CertificateRequests Weft creates.
const LabelManagedBy = "app.kubernetes.io/managed-by"

// New checks opts and returns a Signer.
func New(opts Options) (*Signer, error) {
	if opts.Client == nil || opts.Namespace == "" || opts.IssuerRef.Name == "" {
		return nil, errors.New("certmanager.New: Client, Namespace and IssuerRef.Name are required")
	}
	switch opts.IssuerRef.Kind {
	case "":
		opts.IssuerRef.Kind = cmapi.IssuerKind
	case cmapi.IssuerKind, cmapi.ClusterIssuerKind:
	default:
		if opts.IssuerRef.Group == "" || opts.IssuerRef.Group == "cert-manager.io" {
			return nil, fmt.Errorf("certmanager.New: issuer kind %q: want Issuer or ClusterIssuer", opts.IssuerRef.Kind)
		}
	}
	if opts.IssuerRef.Group == "" {
		opts.IssuerRef.Group = "cert-manager.io"
	}
	if opts.Timeout == 0 {
		opts.Timeout = 30 * time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Signer{opts: opts}
	if len(opts.TrustBundlePEM) > 0 {
		roots, err := ca.ParseCertificatesPEM(opts.TrustBundlePEM)
		if err != nil {
			return nil, fmt.Errorf("certmanager.New: TrustBundlePEM: %w", err)
		}
		s.configured = roots
	}
	return s, nil
}

// Roots reports the configured trust bundle, or the CAs learned from
// status.ca when none was configured; Signing is the CA of the latest
// certificate.
func (s *Signer) Roots() ca.Roots {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := ca.Roots{Signing: s.signing}
	if len(s.configured) > 0 {
		r.Bundle = s.configured
	} else {
		r.Bundle = append([]*x509.Certificate(nil), s.learned...)
	}
	return r
}

// Sign creates a CertificateRequest for the leaf, waits until it is Ready,
// Denied or Failed, deletes it, and returns the certificate from its status.
func (s *Signer) Sign(ctx context.Context, req ca.SigningRequest) (*ca.SignedCertificate, error) {
	csr, err := req.CSR()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, s.opts.Timeout)
	defer cancel()
	crs := s.opts.Client.CertmanagerV1().CertificateRequests(s.opts.Namespace)
	cr, err := crs.Create(ctx, &cmapi.CertificateRequest{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName: "weft-",
			Labels:       map[string]string{LabelManagedBy: "weft"},
			Annotations:  map[string]string{"weft.io/common-name": req.CommonName},
		},
		Spec: cmapi.CertificateRequestSpec{
			Request:   csr,
			Duration:  &metav1.Duration{Duration: req.Validity},
			IssuerRef: s.opts.IssuerRef,
			Usages:    usages(req.ExtKeyUsage),
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("creating CertificateRequest in %s for issuer %s %q: %w", s.opts.Namespace, s.opts.IssuerRef.Kind, s.opts.IssuerRef.Name, err)
	}
	name := s.opts.Namespace + "/" + cr.Name
	defer func() {
		// A new context: the request is removed even after a timeout.
		dctx, dcancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer dcancel()
		if err := crs.Delete(dctx, cr.Name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			s.opts.Logger.Warn("deleting CertificateRequest", "certificateRequest", name, "error", err)
		}
	}()
	done, err := s.wait(ctx, cr)
	if err != nil {
		return nil, fmt.Errorf("CertificateRequest %s (issuer %s %q): %w", name, s.opts.IssuerRef.Kind, s.opts.IssuerRef.Name, err)
	}
	signed := &ca.SignedCertificate{CertChainPEM: done.Status.Certificate, IssuingCAPEM: done.Status.CA}
	if len(done.Status.CA) > 0 {
		cas, err := ca.ParseCertificatesPEM(done.Status.CA)
		if err != nil {
			return nil, fmt.Errorf("CertificateRequest %s: status.ca: %w", name, err)
		}
		s.learn(cas)
	}
	return signed, nil
}

// wait watches the request until it is finished.
func (s *Signer) wait(ctx context.Context, cr *cmapi.CertificateRequest) (*cmapi.CertificateRequest, error) {
	crs := s.opts.Client.CertmanagerV1().CertificateRequests(cr.Namespace)
	for {
		if done, err := finished(cr); done || err != nil {
			return cr, err
		}
		w, err := crs.Watch(ctx, metav1.ListOptions{
			FieldSelector:   fields.OneTermEqualSelector("metadata.name", cr.Name).String(),
			ResourceVersion: cr.ResourceVersion,
		})
		if err != nil {
			return nil, err
		}
		cr, err = next(ctx, w, cr)
		w.Stop()
		if err != nil {
			return nil, err
		}
	}
}

// next returns the request's next state from the watch, or the last one
// when the watch closes (the caller then watches again).
func next(ctx context.Context, w watch.Interface, last *cmapi.CertificateRequest) (*cmapi.CertificateRequest, error) {
	for {
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("not signed in time (is cert-manager running and the request approved?): %w", ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return last, nil
			}
			switch ev.Type {
			case watch.Deleted:
				return nil, errors.New("deleted before it was signed")
			case watch.Error:
				return last, nil
			}
			if cr, ok := ev.Object.(*cmapi.CertificateRequest); ok {
				if done, err := finished(cr); done || err != nil {
					return cr, err
				}
				last = cr
			}
		}
	}
}

// finished reports whether the request is Ready with a certificate, or failed.
func finished(cr *cmapi.CertificateRequest) (bool, error) {
	if c := condition(cr, cmapi.CertificateRequestConditionDenied); c != nil && c.Status == cmmeta.ConditionTrue {
		return true, fmt.Errorf("denied: %s: %s", c.Reason, c.Message)
	}
	if c := condition(cr, cmapi.CertificateRequestConditionInvalidRequest); c != nil && c.Status == cmmeta.ConditionTrue {
		return true, fmt.Errorf("invalid request: %s: %s", c.Reason, c.Message)
	}
	ready := condition(cr, cmapi.CertificateRequestConditionReady)
	if ready == nil {
		return false, nil
	}
	switch {
	case ready.Status == cmmeta.ConditionTrue && len(cr.Status.Certificate) > 0:
		return true, nil
	case ready.Reason == cmapi.CertificateRequestReasonFailed:
		return true, fmt.Errorf("failed: %s", ready.Message)
	}
	return false, nil
}

func condition(cr *cmapi.CertificateRequest, t cmapi.CertificateRequestConditionType) *cmapi.CertificateRequestCondition {
	for i := range cr.Status.Conditions {
		if cr.Status.Conditions[i].Type == t {
			return &cr.Status.Conditions[i]
		}
	}
	return nil
}

func (s *Signer) learn(cas []*x509.Certificate) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.signing = cas[0]
	for _, c := range cas {
		known := false
		for _, l := range s.learned {
			if l.Equal(c) {
				known = true
				break
			}
		}
		if !known {
			s.learned = append(s.learned, c)
		}
	}
}

func usages(ekus []x509.ExtKeyUsage) []cmapi.KeyUsage {
	u := []cmapi.KeyUsage{cmapi.UsageDigitalSignature, cmapi.UsageKeyEncipherment}
	for _, e := range ekus {
		switch e {
		case x509.ExtKeyUsageServerAuth:
			u = append(u, cmapi.UsageServerAuth)
		case x509.ExtKeyUsageClientAuth:
			u = append(u, cmapi.UsageClientAuth)
		}
	}
	return u
}
