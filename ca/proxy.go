package ca

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/weft-mesh/weft/pkg/identity"
)

// ProxyKind says what kind of data-plane client a proxy certificate names.
type ProxyKind string

const (
	// ProxySidecar is an injected Envoy sidecar.
	ProxySidecar ProxyKind = "sidecar"
	// ProxyGateway is a gateway Envoy.
	ProxyGateway ProxyKind = "gateway"
	// ProxyGRPC is a proxyless gRPC workload.
	ProxyGRPC ProxyKind = "grpc"
)

// Proxy names one data-plane client: its unique ID (a UUID, usually the pod's
// UID), its kind, and the service account it runs as.
type Proxy struct {
	ID       string
	Kind     ProxyKind
	Identity identity.Identity
}

// String returns "<kind>/<id> (<namespace>/<serviceaccount>)".
func (p Proxy) String() string { return fmt.Sprintf("%s/%s (%s)", p.Kind, p.ID, p.Identity) }

// CommonName returns "<id>.<kind>.<serviceaccount>.<namespace>.<trustDomain>",
// the CN of the proxy's certificate (OSM's xDS certificate CN).
func (p Proxy) CommonName(trustDomain string) string {
	return p.ID + "." + string(p.Kind) + "." + p.Identity.CommonName(trustDomain)
}

// URI returns the proxy certificate's only URI SAN:
// spiffe://<trustDomain>/weft/proxy/<kind>/<id>/ns/<namespace>/sa/<serviceaccount>.
// Its path differs from a service identity's (/ns/...), so a service
// certificate never parses as a proxy certificate.
func (p Proxy) URI(trustDomain string) *url.URL {
	u := p.Identity.SPIFFEID(trustDomain)
	u.Path = proxyPathPrefix + string(p.Kind) + "/" + p.ID + u.Path
	return u
}

const proxyPathPrefix = "/weft/proxy/"

// Validate reports whether the proxy's ID is a UUID, its kind is known and its
// identity is valid.
func (p Proxy) Validate() error {
	if _, err := uuid.Parse(p.ID); err != nil || strings.ToLower(p.ID) != p.ID || len(p.ID) != 36 {
		return fmt.Errorf("proxy %s: id %q is not a lower-case UUID", p, p.ID)
	}
	switch p.Kind {
	case ProxySidecar, ProxyGateway, ProxyGRPC:
	default:
		return fmt.Errorf("proxy %s: unknown kind %q (want %s, %s or %s)", p, p.Kind, ProxySidecar, ProxyGateway, ProxyGRPC)
	}
	return p.Identity.Validate()
}

// ParseProxyCertificate reads the proxy a certificate was issued to. Call it
// only on a certificate whose chain has been verified against the trust bundle
// (VerifyProxyCertificate does both). It rejects anything that is not exactly a
// proxy certificate of this trust domain: service certificates (they carry
// server auth and a /ns/ URI), certificates with DNS, IP or e-mail SANs, more
// than one URI, a CN that does not match the URI, or a CA certificate.
func ParseProxyCertificate(cert *x509.Certificate, trustDomain string) (Proxy, error) {
	reject := func(format string, args ...any) (Proxy, error) {
		return Proxy{}, fmt.Errorf("certificate %q is not a proxy certificate: %s", cert.Subject.CommonName, fmt.Sprintf(format, args...))
	}
	if cert.IsCA {
		return reject("it is a CA certificate")
	}
	if !slices.Equal(cert.ExtKeyUsage, proxyExtKeyUsage) || len(cert.UnknownExtKeyUsage) > 0 {
		return reject("extended key usage must be client auth only")
	}
	if len(cert.DNSNames)+len(cert.IPAddresses)+len(cert.EmailAddresses) > 0 {
		return reject("it has DNS, IP or e-mail SANs")
	}
	if len(cert.URIs) != 1 {
		return reject("it has %d URI SANs, want 1", len(cert.URIs))
	}
	u := cert.URIs[0]
	if u.Scheme != "spiffe" || u.Host != trustDomain || u.User != nil || u.RawQuery != "" || u.Fragment != "" || u.Port() != "" {
		return reject("URI %q is not a SPIFFE ID of trust domain %q", u, trustDomain)
	}
	rest, ok := strings.CutPrefix(u.Path, proxyPathPrefix)
	if !ok {
		return reject("URI %q has no %s path", u, proxyPathPrefix)
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 6 || parts[2] != "ns" || parts[4] != "sa" {
		return reject("URI path %q is not %s<kind>/<id>/ns/<namespace>/sa/<serviceaccount>", u.Path, proxyPathPrefix)
	}
	p := Proxy{ID: parts[1], Kind: ProxyKind(parts[0]), Identity: identity.Identity{Namespace: parts[3], ServiceAccount: parts[5]}}
	if err := p.Validate(); err != nil {
		return reject("%v", err)
	}
	if cert.Subject.CommonName != p.CommonName(trustDomain) {
		return reject("CN does not match URI %q", u)
	}
	return p, nil
}

// VerifyProxyCertificate verifies a peer's chain (leaf first, as in
// tls.ConnectionState.PeerCertificates) against roots at time now, for client
// authentication, and returns the proxy it names. The xDS server calls it (or
// Manager.VerifyProxyCertificate) for every stream.
func VerifyProxyCertificate(chain []*x509.Certificate, roots *x509.CertPool, trustDomain string, now time.Time) (Proxy, error) {
	if err := verifyClientChain(chain, roots, now); err != nil {
		return Proxy{}, err
	}
	return ParseProxyCertificate(chain[0], trustDomain)
}

// verifyClientChain verifies chain (leaf first) against roots at now for
// client authentication.
func verifyClientChain(chain []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	if len(chain) == 0 {
		return fmt.Errorf("no client certificate")
	}
	// x509 would verify against the system roots: never trust those here.
	if roots == nil {
		return fmt.Errorf("certificate %q: no trust bundle to verify it against", chain[0].Subject.CommonName)
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{
		Roots: roots, Intermediates: intermediates, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}); err != nil {
		return fmt.Errorf("certificate %q: %w", chain[0].Subject.CommonName, err)
	}
	return nil
}

var (
	proxyExtKeyUsage   = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	serviceExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
)
