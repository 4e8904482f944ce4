package ca

import (
	"crypto/x509"
	"time"

	"github.com/weft-mesh/weft/pkg/identity"
)

// Kind says what a certificate is for. It is also the "kind" label of the CA's
// metrics.
type Kind string

const (
	// KindService is a service account's certificate, used for mTLS between workloads.
	KindService Kind = "service"
	// KindProxy is a proxy's certificate, used to open its xDS stream.
	KindProxy Kind = "proxy"
	// KindIngressGateway is the ingress controller's client certificate.
	KindIngressGateway Kind = "ingress-gateway"
)

// Certificate is an issued leaf with everything needed to serve it. Treat it as
// immutable: a renewal makes a new Certificate.
type Certificate struct {
	Kind Kind
	// Identity is the service account the certificate names (service and
	// proxy certificates).
	Identity identity.Identity
	// Proxy is the proxy a KindProxy certificate names; zero otherwise.
	Proxy Proxy

	// CertChainPEM is the leaf followed by any intermediates.
	CertChainPEM []byte
	// PrivateKeyPEM is the leaf's key, PKCS#8.
	PrivateKeyPEM []byte
	// IssuingCAPEM is the CA chain that signed the leaf, as the signer reported it.
	IssuingCAPEM []byte
	// TrustBundlePEM holds every root the mesh trusted when the leaf was issued:
	// what a peer of this certificate validates against.
	TrustBundlePEM []byte

	// Leaf is the parsed leaf certificate.
	Leaf      *x509.Certificate
	NotBefore time.Time
	NotAfter  time.Time
	// RenewAt is when the Manager replaces the certificate: once a configured
	// share of its lifetime remains, minus a per-certificate jitter.
	RenewAt time.Time
}

// SerialNumber returns the leaf's serial number in hex.
func (c *Certificate) SerialNumber() string { return c.Leaf.SerialNumber.Text(16) }

// ExpiredAt reports whether the certificate is no longer valid at t.
func (c *Certificate) ExpiredAt(t time.Time) bool { return !t.Before(c.NotAfter) }
