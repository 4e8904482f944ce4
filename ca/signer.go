package ca

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"net/url"
	"time"
)

// Signer signs a certificate signing request. It is the one thing an issuer
// must do; the Manager does the rest (keys, caching, renewal). Implementations:
// internalca.Authority and certmanager.Signer.
type Signer interface {
	Sign(ctx context.Context, req SigningRequest) (*SignedCertificate, error)
}

// SigningRequest says what leaf to sign. The internal CA signs its fields
// directly; a signer that needs a PKCS#10 request (cert-manager) calls CSR.
type SigningRequest struct {
	CommonName  string
	DNSNames    []string
	URIs        []*url.URL
	ExtKeyUsage []x509.ExtKeyUsage
	Validity    time.Duration
	// Key is the leaf's private key. A signer uses it only through CSR (to
	// prove possession) and must not keep it.
	Key crypto.Signer
}

// CSR returns a PEM "CERTIFICATE REQUEST" for the subject and SANs, signed by
// Key.
func (r SigningRequest) CSR() ([]byte, error) {
	der, err := x509.CreateCertificateRequest(rand.Reader, &x509.CertificateRequest{
		Subject: pkix.Name{CommonName: r.CommonName}, DNSNames: r.DNSNames, URIs: r.URIs,
	}, r.Key)
	if err != nil {
		return nil, fmt.Errorf("creating CSR: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE REQUEST", Bytes: der}), nil
}

// SignedCertificate is a Signer's answer.
type SignedCertificate struct {
	// CertChainPEM is the leaf first, then any intermediates.
	CertChainPEM []byte
	// IssuingCAPEM is the certificate of the CA that signed the leaf (and its
	// chain), when the signer knows it.
	IssuingCAPEM []byte
	// Verified says the signer has itself checked the leaf's signature with
	// the first certificate of IssuingCAPEM (x509.CreateCertificate does).
	// The Manager then verifies only that this CA chains to the trust bundle
	// (once per CA) and that the leaf names it as issuer, and spares a second
	// signature check on the admission path.
	Verified bool
}

// Backdater is implemented by signers that set a leaf's NotBefore earlier
// than its issue, for peers whose clocks run behind. The Manager counts a
// leaf's lifetime from NotBefore plus Backdate (see RenewalTime).
type Backdater interface {
	Backdate() time.Duration
}

// RootProvider is implemented by signers that know which roots they chain to.
// The Manager reads it to build the trust bundle and to follow a root
// rotation: a new root in Bundle is announced, a new Signing root makes the
// Manager reissue every cached leaf.
type RootProvider interface {
	Roots() Roots
}

// Roots are a signer's trusted roots.
type Roots struct {
	// Bundle is every root peers must trust: during a rotation, old and new.
	Bundle []*x509.Certificate
	// Signing is the CA certificate that signs new leaves (a root, or an
	// intermediate that chains to one of Bundle); nil when not yet known.
	Signing *x509.Certificate
}
