package internalca

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"slices"
	"sync"
	"time"

	"k8s.io/utils/clock"

	"github.com/weft-mesh/weft/ca"
)

// Backdate is how far before now a leaf's NotBefore is set, so that peers
// whose clocks run a little behind accept it.
const Backdate = time.Minute

// Authority signs leaves with the signing CA of its RootSet. It is a
// ca.Signer and a ca.RootProvider.
type Authority struct {
	clock clock.PassiveClock

	mu    sync.RWMutex
	set   *RootSet
	caPEM []byte
	// chainPEM follows each leaf: the signing CA and its chain when the
	// signing CA is not a root, else nothing.
	chainPEM []byte
}

var (
	_ ca.Signer       = (*Authority)(nil)
	_ ca.RootProvider = (*Authority)(nil)
	_ ca.Backdater    = (*Authority)(nil)
)

// New returns an Authority signing with set. A nil clock is the real one.
func New(set *RootSet, clk clock.PassiveClock) *Authority {
	if clk == nil {
		clk = clock.RealClock{}
	}
	a := &Authority{clock: clk}
	a.SetRoots(set)
	return a
}

// SetRoots replaces the signing CA and trust bundle: a root rotation step.
// The Manager notices on its next check (Roots), announces a changed bundle,
// and reissues every leaf when the signing CA changed.
func (a *Authority) SetRoots(set *RootSet) {
	caPEM := ca.EncodeCertificatesPEM(append([]*x509.Certificate{set.Signing.Cert}, set.Signing.Chain...)...)
	var chainPEM []byte
	if !isSelfSigned(set.Signing.Cert) {
		chainPEM = caPEM
	}
	a.mu.Lock()
	a.set, a.caPEM, a.chainPEM = set, caPEM, chainPEM
	a.mu.Unlock()
}

// RootSet returns the current roots.
func (a *Authority) RootSet() *RootSet {
	a.mu.RLock()
	defer a.mu.RUnlock()
	return a.set
}

// Backdate returns Backdate, how far before its issue a leaf's NotBefore is
// (ca.Backdater).
func (a *Authority) Backdate() time.Duration { return Backdate }

// Roots reports the trust bundle and the signing CA.
func (a *Authority) Roots() ca.Roots {
	s := a.RootSet()
	return ca.Roots{Bundle: slices.Clone(s.Trusted), Signing: s.Signing.Cert}
}

// Sign issues a leaf for the request's key: its CN, DNS and URI SANs, the
// requested extended key usage, valid from a minute ago for the requested
// validity (never past the signing CA's own expiry).
func (a *Authority) Sign(_ context.Context, req ca.SigningRequest) (*ca.SignedCertificate, error) {
	if req.Key == nil {
		return nil, errors.New("no key")
	}
	pub := req.Key.Public()
	if req.Validity <= 0 {
		return nil, errors.New("validity must be positive")
	}
	a.mu.RLock()
	s, caPEM, chainPEM := a.set, a.caPEM, a.chainPEM
	a.mu.RUnlock()

	now := a.clock.Now()
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	notAfter := now.Add(req.Validity)
	if notAfter.After(s.Signing.Cert.NotAfter) {
		notAfter = s.Signing.Cert.NotAfter
	}
	usage := x509.KeyUsageDigitalSignature
	if _, ok := pub.(*rsa.PublicKey); ok {
		usage |= x509.KeyUsageKeyEncipherment
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: req.CommonName},
		DNSNames:              req.DNSNames,
		URIs:                  req.URIs,
		NotBefore:             now.Add(-Backdate),
		NotAfter:              notAfter,
		KeyUsage:              usage,
		ExtKeyUsage:           req.ExtKeyUsage,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, s.Signing.Cert, pub, s.Signing.Key)
	if err != nil {
		return nil, err
	}
	leaf := &x509.Certificate{Raw: der}
	chain := append(ca.EncodeCertificatesPEM(leaf), chainPEM...)
	// x509.CreateCertificate checked the signature against the signing CA,
	// which ParseRootSet checked against the trust bundle.
	return &ca.SignedCertificate{CertChainPEM: chain, IssuingCAPEM: caPEM, Verified: true}, nil
}
