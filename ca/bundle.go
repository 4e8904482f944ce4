package ca

import (
	"crypto/x509"
	"slices"
	"strings"
)

// trustBundle is the set of roots peers validate against.
type trustBundle struct {
	roots []*x509.Certificate
	pem   []byte
	pool  *x509.CertPool
	// fingerprint identifies the set (sorted root fingerprints).
	fingerprint string
	// signing is the fingerprint of the CA signing new leaves.
	signing string
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
		b := trustBundle{roots: all, fingerprint: fingerprint, signing: m.bundle.signing}
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
		m.bundle.signing = signing
	}
}
