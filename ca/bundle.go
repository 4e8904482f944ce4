package ca

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"time"
)

// trustBundle is the set of roots peers validate against.
type trustBundle struct {
	roots []*x509.Certificate
	pem   []byte
	pool  *x509.CertPool
	// fingerprint identifies the set (sorted root fingerprints).
	fingerprint string
	// signing is the fingerprint of the CA signing new leaves, and
	// signingCert that CA; empty and nil until the signer reports one.
	signing     string
	signingCert *x509.Certificate
}

// Bundle returns the trust bundle as PEM: every root a peer must trust. During
// a root rotation it holds the old and the new root. The xDS server serves it
// as the root-cert-for-mtls-* secrets; the slice must not be modified.
func (m *Manager) Bundle() []byte {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.bundle.pem
}

// BundlePool returns the trust bundle as a pool for crypto/tls. It is shared:
// do not add to it.
func (m *Manager) BundlePool() *x509.CertPool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.bundle.pool
}

// SigningRootFingerprint identifies the CA certificate that signs new leaves
// (see Fingerprint); empty until known. It changes when a root rotation
// activates a new root.
func (m *Manager) SigningRootFingerprint() string {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.bundle.signing
}

// VerifyProxyCertificate verifies a client's chain (leaf first) against the
// trust bundle now and returns the proxy it names; see ParseProxyCertificate.
// The xDS server calls it for each stream.
func (m *Manager) VerifyProxyCertificate(chain []*x509.Certificate) (Proxy, error) {
	return VerifyProxyCertificate(chain, m.BundlePool(), m.trustDomain, m.clock.Now())
}

// AuthenticateProxy returns the proxy a client chain names when crypto/tls has
// already verified it: chain is one of tls.ConnectionState.VerifiedChains,
// leaf first and a root last, whose signatures and key usages the handshake
// verified against the roots of that moment (xds.TLSConfig requires it). It
// does not verify the signatures a second time; it checks what may have
// changed since the handshake, on a long-lived connection or a resumed TLS
// session: that the chain's root is still in the trust bundle and that every
// certificate of the chain is within its validity now. Then, as
// VerifyProxyCertificate, it reads the proxy from the leaf.
func (m *Manager) AuthenticateProxy(chain []*x509.Certificate) (Proxy, error) {
	m.mu.RLock()
	roots := m.bundle.roots
	m.mu.RUnlock()
	return AuthenticateVerifiedProxy(chain, roots, m.trustDomain, m.clock.Now())
}

// AuthenticateVerifiedProxy is Manager.AuthenticateProxy with the trust
// bundle's roots and the time given.
func AuthenticateVerifiedProxy(chain []*x509.Certificate, roots []*x509.Certificate, trustDomain string, now time.Time) (Proxy, error) {
	if len(chain) < 2 {
		// A verified chain ends in a root, which a proxy certificate never is.
		return Proxy{}, fmt.Errorf("no verified client certificate chain")
	}
	root := chain[len(chain)-1]
	if !slices.ContainsFunc(roots, func(r *x509.Certificate) bool { return r.Equal(root) }) {
		return Proxy{}, fmt.Errorf("certificate %q: its root %q is not in the trust bundle", chain[0].Subject.CommonName, root.Subject.CommonName)
	}
	for _, c := range chain {
		if now.Before(c.NotBefore) || now.After(c.NotAfter) {
			return Proxy{}, fmt.Errorf("certificate %q: %q is not valid at %s (valid from %s to %s)",
				chain[0].Subject.CommonName, c.Subject.CommonName, now.UTC().Format(time.RFC3339), c.NotBefore.UTC().Format(time.RFC3339), c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
	return ParseProxyCertificate(chain[0], trustDomain)
}

// CheckProxyCertificate reports whether a proxy certificate kept outside the
// Manager (chainPEM: the leaf first, as in a bootstrap Secret) may still be
// used by want at now, by the rules for the Manager's own cached
// certificates. It returns nil only if the chain verifies against the current
// trust bundle for client auth, the leaf names exactly want, it was signed by
// the CA that signs now (a new signing CA makes every cached certificate due;
// see refreshRoots), and its renewal time (RenewalTime) has not come.
// Otherwise the error says why it must be replaced.
func (m *Manager) CheckProxyCertificate(chainPEM []byte, want Proxy, now time.Time) error {
	chain, err := ParseCertificatesPEM(chainPEM)
	if err != nil {
		return fmt.Errorf("proxy certificate does not parse: %w", err)
	}
	m.refreshRoots()
	m.mu.RLock()
	pool, signing := m.bundle.pool, m.bundle.signingCert
	m.mu.RUnlock()
	if err := verifyClientChain(chain, pool, now); err != nil {
		return fmt.Errorf("proxy certificate does not verify against the trust bundle: %w", err)
	}
	leaf := chain[0]
	got, err := ParseProxyCertificate(leaf, m.trustDomain)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("proxy certificate names proxy %s, want %s", got, want)
	}
	// Issuer names alone do not tell roots apart: a re-minted root may
	// carry the same subject. The signature does.
	if signing != nil && (!bytes.Equal(leaf.RawIssuer, signing.RawSubject) || leaf.CheckSignatureFrom(signing) != nil) {
		return fmt.Errorf("proxy certificate %q was issued by a CA that no longer signs (%q signs now)", leaf.Subject.CommonName, signing.Subject)
	}
	if renewAt := m.RenewalTime(leaf); !now.Before(renewAt) {
		return fmt.Errorf("proxy certificate %q is due for renewal at %s", leaf.Subject.CommonName, renewAt)
	}
	return nil
}

// refreshRoots reads the signer's roots. A changed bundle is announced; a new
// signing CA makes every cached certificate due, so that RenewDue reissues
// them from it.
func (m *Manager) refreshRoots() {
	var roots Roots
	if rp, ok := m.signer.(RootProvider); ok {
		roots = rp.Roots()
	}
	all := slices.Clone(m.extraRoots)
	seen := map[string]bool{}
	for _, r := range all {
		seen[Fingerprint(r)] = true
	}
	for _, r := range roots.Bundle {
		if fp := Fingerprint(r); !seen[fp] {
			seen[fp] = true
			all = append(all, r)
		}
	}
	fps := make([]string, 0, len(seen))
	for fp := range seen {
		fps = append(fps, fp)
	}
	slices.Sort(fps)
	fingerprint := strings.Join(fps, ",")
	signing := ""
	if roots.Signing != nil {
		signing = Fingerprint(roots.Signing)
	}

	m.mu.RLock()
	unchanged := fingerprint == m.bundle.fingerprint && (signing == "" || signing == m.bundle.signing)
	m.mu.RUnlock()
	if unchanged {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if fingerprint != m.bundle.fingerprint {
		b := trustBundle{roots: all, fingerprint: fingerprint, signing: m.bundle.signing, signingCert: m.bundle.signingCert}
		if len(all) > 0 {
			b.pem = EncodeCertificatesPEM(all...)
			b.pool = x509.NewCertPool()
			for _, r := range all {
				b.pool.AddCert(r)
			}
		}
		first := m.bundle.fingerprint == ""
		m.bundle = b
		if !first {
			m.log.Info("trust bundle changed", "roots", len(all))
			for s := range m.subs {
				s.addBundleChange()
			}
		}
	}
	if signing != "" && signing != m.bundle.signing {
		if m.bundle.signing != "" {
			m.log.Info("signing CA changed; reissuing every cached certificate", "from", m.bundle.signing, "to", signing)
			m.markAllDueLocked()
		}
		m.bundle.signing, m.bundle.signingCert = signing, roots.Signing
	}
}
