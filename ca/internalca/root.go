package internalca

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"time"

	"github.com/weft-mesh/weft/ca"
)

// DefaultRootValidity is a generated root's lifetime.
const DefaultRootValidity = 10 * 365 * 24 * time.Hour

// DefaultRootCommonName is a generated root's CN.
const DefaultRootCommonName = "Weft mesh root CA"

// Signing is the CA certificate that signs leaves, with its key and the
// intermediates between it and a root (none when it is a root itself).
type Signing struct {
	Cert  *x509.Certificate
	Chain []*x509.Certificate
	Key   crypto.Signer
}

// RootSet is what the Secret holds: the signing CA and every trusted root.
type RootSet struct {
	Signing Signing
	// Trusted is the trust bundle. It always contains the root the signing
	// CA chains to.
	Trusted []*x509.Certificate
}

// NewRoot generates a self-signed ECDSA P-256 root valid from now for
// validity, and returns it as a RootSet trusting only itself.
func NewRoot(commonName string, validity time.Duration, now time.Time) (*RootSet, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Weft"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &RootSet{Signing: Signing{Cert: cert, Key: key}, Trusted: []*x509.Certificate{cert}}, nil
}

// ParseRootSet reads the three PEM values of a root Secret and checks that
// they make a working CA at now: the key matches the signing certificate, it
// is a CA allowed to sign certificates, it is valid, and it chains to a root
// of the trust bundle. caCrt may be empty when tls.crt is a self-signed root.
// An error names the Secret key at fault (tls.crt, tls.key or ca.crt).
func ParseRootSet(tlsCrt, tlsKey, caCrt []byte, now time.Time) (*RootSet, error) {
	certs, err := ca.ParseCertificatesPEM(tlsCrt)
	if err != nil {
		return nil, fieldError{"tls.crt", err}
	}
	key, err := ca.ParsePrivateKeyPEM(tlsKey)
	if err != nil {
		return nil, fieldError{"tls.key", err}
	}
	s := &RootSet{Signing: Signing{Cert: certs[0], Key: key}}
	for _, c := range certs[1:] {
		if !isSelfSigned(c) {
			s.Signing.Chain = append(s.Signing.Chain, c)
		}
	}
	cert := s.Signing.Cert
	if pub, ok := key.Public().(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(cert.PublicKey) {
		return nil, fieldError{"tls.key", errors.New("the key does not belong to the first certificate of tls.crt")}
	}
	if !cert.IsCA || (cert.KeyUsage != 0 && cert.KeyUsage&x509.KeyUsageCertSign == 0) {
		return nil, fieldError{"tls.crt", fmt.Errorf("certificate %q is not a CA that may sign certificates", cert.Subject.CommonName)}
	}
	if now.Before(cert.NotBefore) || !now.Before(cert.NotAfter) {
		return nil, fieldError{"tls.crt", fmt.Errorf("certificate %q is valid from %s to %s, not now", cert.Subject.CommonName, cert.NotBefore, cert.NotAfter)}
	}
	if len(bytes.TrimSpace(caCrt)) > 0 {
		if s.Trusted, err = ca.ParseCertificatesPEM(caCrt); err != nil {
			return nil, fieldError{"ca.crt", err}
		}
	}
	if isSelfSigned(cert) && !contains(s.Trusted, cert) {
		s.Trusted = append(s.Trusted, cert)
	}
	if len(s.Trusted) == 0 {
		return nil, fieldError{"ca.crt", fmt.Errorf("tls.crt %q is not self-signed, so ca.crt must hold the root it chains to", cert.Subject.CommonName)}
	}
	if err := s.verify(now); err != nil {
		return nil, fieldError{"ca.crt", err}
	}
	return s, nil
}

// verify checks that the signing CA chains to a trusted root.
func (s *RootSet) verify(now time.Time) error {
	roots, inter := x509.NewCertPool(), x509.NewCertPool()
	for _, c := range s.Trusted {
		roots.AddCert(c)
	}
	for _, c := range s.Signing.Chain {
		inter.AddCert(c)
	}
	_, err := s.Signing.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return fmt.Errorf("signing certificate %q does not chain to a trusted root: %w", s.Signing.Cert.Subject.CommonName, err)
	}
	return nil
}

// Encode returns the Secret values: tls.crt, tls.key and ca.crt.
func (s *RootSet) Encode() (tlsCrt, tlsKey, caCrt []byte, err error) {
	tlsKey, err = ca.EncodePrivateKeyPEM(s.Signing.Key)
	if err != nil {
		return nil, nil, nil, err
	}
	tlsCrt = ca.EncodeCertificatesPEM(append([]*x509.Certificate{s.Signing.Cert}, s.Signing.Chain...)...)
	return tlsCrt, tlsKey, ca.EncodeCertificatesPEM(s.Trusted...), nil
}

type fieldError struct {
	key string
	err error
}

func (e fieldError) Error() string { return e.key + ": " + e.err.Error() }
func (e fieldError) Unwrap() error { return e.err }

func isSelfSigned(c *x509.Certificate) bool {
	return bytes.Equal(c.RawIssuer, c.RawSubject) && c.CheckSignatureFrom(c) == nil
}

func contains(certs []*x509.Certificate, c *x509.Certificate) bool {
	for _, x := range certs {
		if x.Equal(c) {
			return true
		}
	}
	return false
}

func randomSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}
