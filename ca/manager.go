package ca

import (
	"bytes"
	"context"
	"crypto"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/identity"
)

// Options configure a Manager. Signer and TrustDomain are required.
type Options struct {
	// Signer signs every leaf.
	Signer Signer
	// TrustDomain names identities; required: the mesh configuration's
	// (pkg/mesh.Config) trust domain.
	TrustDomain string
	// Settings are the initial certificate settings; zero fields take defaults.
	Settings Settings
	// RenewWhenRemaining is the share of a certificate's lifetime left when it
	// is renewed; default 0.3 (a 24h certificate renews after about 16.8h).
	RenewWhenRemaining float64
	// Jitter is the largest share of the lifetime by which a renewal is moved
	// earlier, so certificates issued together do not renew together; default
	// 0.1. Each certificate's jitter is derived from its serial number.
	Jitter float64
	// TrustBundlePEM holds roots to trust in addition to the ones the Signer
	// reports (see RootProvider). A Signer that reports no roots needs it.
	TrustBundlePEM []byte
	// Clock tells the time; default the real clock. Tests pass a fake one.
	Clock clock.Clock
	// Logger logs renewals and failures; default discards.
	Logger *slog.Logger
	// Registerer receives the CA's metrics; nil registers none.
	Registerer prometheus.Registerer
	// CheckInterval is the longest Run waits before checking for due
	// certificates and root changes; default 10s.
	CheckInterval time.Duration
}

// Manager issues, caches and renews the mesh's certificates on top of any
// Signer. It is what the rest of Weft uses. All methods are safe for
// concurrent use.
type Manager struct {
	signer             Signer
	trustDomain        string
	clock              clock.Clock
	log                *slog.Logger
	metrics            *metrics
	renewWhenRemaining float64
	jitter             float64
	checkInterval      time.Duration
	extraRoots         []*x509.Certificate

	flight singleflight.Group
	// verifiedCAs remembers "<bundle fingerprint>/<CA fingerprint>" pairs
	// already verified, for Verified signers.
	verifiedCAs sync.Map

	mu       sync.RWMutex
	settings Settings
	certs    map[string]*entry
	tracked  map[string]time.Time
	bundle   trustBundle
	subs     map[*Subscription]struct{}
}

type entry struct {
	cert *Certificate
	// renewAt is cert.RenewAt, or zero once the certificate must be replaced
	// early (new signing root, new settings).
	renewAt time.Time
}

// NewManager checks opts and returns a Manager. It does not issue anything yet.
func NewManager(opts Options) (*Manager, error) {
	if opts.Signer == nil {
		return nil, errors.New("ca.NewManager: no Signer")
	}
	m := &Manager{
		signer:             opts.Signer,
		trustDomain:        opts.TrustDomain,
		clock:              opts.Clock,
		log:                opts.Logger,
		renewWhenRemaining: opts.RenewWhenRemaining,
		jitter:             opts.Jitter,
		checkInterval:      opts.CheckInterval,
		settings:           opts.Settings.withDefaults(),
		certs:              map[string]*entry{},
		tracked:            map[string]time.Time{},
		subs:               map[*Subscription]struct{}{},
	}
	if m.trustDomain == "" {
		return nil, errors.New("ca.NewManager: no TrustDomain")
	}
	if err := identity.ValidateTrustDomain(m.trustDomain); err != nil {
		return nil, err
	}
	if err := m.settings.Validate(); err != nil {
		return nil, err
	}
	if m.clock == nil {
		m.clock = clock.RealClock{}
	}
	if m.log == nil {
		m.log = slog.New(slog.DiscardHandler)
	}
	if m.renewWhenRemaining == 0 {
		m.renewWhenRemaining = 0.3
	}
	if m.jitter == 0 {
		m.jitter = 0.1
	}
	if m.renewWhenRemaining < 0 || m.jitter < 0 || m.renewWhenRemaining+m.jitter >= 1 {
		return nil, fmt.Errorf("ca.NewManager: RenewWhenRemaining (%v) and Jitter (%v) must be positive and add up to less than 1", m.renewWhenRemaining, m.jitter)
	}
	if m.checkInterval == 0 {
		m.checkInterval = 10 * time.Second
	}
	if len(opts.TrustBundlePEM) > 0 {
		roots, err := ParseCertificatesPEM(opts.TrustBundlePEM)
		if err != nil {
			return nil, fmt.Errorf("ca.NewManager: TrustBundlePEM: %w", err)
		}
		m.extraRoots = roots
	}
	var err error
	if m.metrics, err = newMetrics(opts.Registerer, m.secondsUntilSoonestExpiry); err != nil {
		return nil, fmt.Errorf("ca.NewManager: registering metrics: %w", err)
	}
	m.refreshRoots()
	return m, nil
}

// TrustDomain returns the trust domain certificates are issued in.
func (m *Manager) TrustDomain() string { return m.trustDomain }

// ServiceCertificate returns the identity's certificate: CN and DNS SAN
// <sa>.<ns>.<trust-domain>, URI SAN spiffe://<trust-domain>/ns/<ns>/sa/<sa>,
// server and client auth. It is issued once per service account and cached; a
// certificate due for renewal is replaced first, and an expired one is never
// returned.
func (m *Manager) ServiceCertificate(ctx context.Context, id identity.Identity) (*Certificate, error) {
	if err := id.Validate(); err != nil {
		return nil, err
	}
	return m.cached(ctx, serviceKey(id), func(c *Certificate) bool { return c.Identity == id },
		func(ctx context.Context) (*Certificate, error) { return m.issueService(ctx, id) })
}

// ProxyCertificate returns the proxy's certificate for its xDS stream: CN
// <id>.<kind>.<sa>.<ns>.<trust-domain>, one URI SAN
// spiffe://<trust-domain>/weft/proxy/<kind>/<id>/ns/<ns>/sa/<sa>, client auth
// only. ParseProxyCertificate reads it back. Cached per proxy ID until renewal
// or ForgetProxy.
func (m *Manager) ProxyCertificate(ctx context.Context, p Proxy) (*Certificate, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	return m.cached(ctx, proxyKey(p), func(c *Certificate) bool { return c.Proxy == p },
		func(ctx context.Context) (*Certificate, error) { return m.issueProxy(ctx, p) })
}

// ForgetProxy drops a proxy's certificate from the cache (the proxy is gone);
// it is no longer renewed.
func (m *Manager) ForgetProxy(p Proxy) { m.forget(proxyKey(p)) }

// ForgetService drops a service account's certificate from the cache.
func (m *Manager) ForgetService(id identity.Identity) { m.forget(serviceKey(id)) }

func (m *Manager) forget(key string) {
	m.mu.Lock()
	delete(m.certs, key)
	m.mu.Unlock()
}

// LeafRequest describes an uncached certificate, such as the ingress
// gateway's.
type LeafRequest struct {
	Kind        Kind
	CommonName  string
	DNSNames    []string
	URIs        []*url.URL
	ExtKeyUsage []x509.ExtKeyUsage
	Validity    time.Duration
	// Renewal says the certificate replaces one that was due, for the
	// renewals metric.
	Renewal bool
}

// Issue issues a certificate that the Manager does not cache or renew: the
// caller keeps it (and may use RenewalTime and TrackExpiry). It uses the
// current key settings and is verified against the trust bundle. Its validity
// must be at least MinValidity.
func (m *Manager) Issue(ctx context.Context, req LeafRequest) (*Certificate, error) {
	if err := validateValidity(field.NewPath("Validity"), req.Validity, req.Validity.String()); err != nil {
		return nil, fmt.Errorf("certificate %q: %w", req.CommonName, err)
	}
	c, err := m.issue(ctx, req)
	if err != nil {
		return nil, err
	}
	if req.Renewal {
		m.metrics.renewals.WithLabelValues(string(req.Kind)).Inc()
	}
	return c, nil
}

// Settings returns the current certificate settings.
func (m *Manager) Settings() Settings {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.settings
}

// UpdateSettings changes validity and key kind. When they differ from the
// current ones, every cached certificate becomes due, so the next RenewDue
// (Run calls it) reissues them with the new settings.
func (m *Manager) UpdateSettings(s Settings) error {
	s = s.withDefaults()
	if err := s.Validate(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if s == m.settings {
		return nil
	}
	m.log.Info("certificate settings changed; reissuing cached certificates",
		"serviceValidity", s.ServiceValidity, "proxyValidity", s.ProxyValidity, "key", s.Key)
	m.settings = s
	m.markAllDueLocked()
	return nil
}

// ApplyMeshConfig reads spec.certificate (serviceCertValidityDuration,
// certKeyBitSize) and applies it with UpdateSettings. A nil MeshConfig
// restores the defaults. An invalid section is rejected and the current
// settings stay.
func (m *Manager) ApplyMeshConfig(mc *configv1alpha2.MeshConfig) error {
	s, err := SettingsFromMeshConfig(mc)
	if err != nil {
		return err
	}
	return m.UpdateSettings(s)
}

func serviceKey(id identity.Identity) string { return "service:" + id.String() }
func proxyKey(p Proxy) string                { return "proxy:" + p.ID }

// flightResult is the one result type of m.flight. cached and renew share a
// key per certificate, so either may receive the other's result.
type flightResult struct {
	// cert is the certificate at the key afterwards; nil when renew found
	// nothing cached.
	cert *Certificate
	// renewed says a cached certificate was replaced.
	renewed bool
}

// cached returns the entry at key when it matches and is not due; otherwise
// one caller issues a replacement while concurrent callers wait for it.
func (m *Manager) cached(ctx context.Context, key string, matches func(*Certificate) bool, issue func(context.Context) (*Certificate, error)) (*Certificate, error) {
	for {
		if c := m.fresh(key, matches); c != nil {
			return c, nil
		}
		ran := false
		v, err, _ := m.flight.Do(key, func() (any, error) {
			ran = true
			if c := m.fresh(key, matches); c != nil {
				return flightResult{cert: c}, nil
			}
			m.mu.RLock()
			old := m.certs[key]
			m.mu.RUnlock()
			c, err := issue(ctx)
			if err != nil {
				if old != nil && matches(old.cert) && !old.cert.ExpiredAt(m.clock.Now()) {
					m.log.Warn("renewing a certificate failed; serving the current one until it expires",
						"certificate", key, "notAfter", old.cert.NotAfter, "error", err)
					return flightResult{cert: old.cert}, nil
				}
				return flightResult{}, err
			}
			return flightResult{cert: c, renewed: m.store(key, old, c)}, nil
		})
		r := v.(flightResult)
		if ran {
			return r.cert, err
		}
		// We waited on another caller's flight. A renew may have failed,
		// found nothing to do, or issued for another proxy of the same ID:
		// use its certificate only if it is the one asked for.
		if err == nil && r.cert != nil && matches(r.cert) && !r.cert.ExpiredAt(m.clock.Now()) {
			return r.cert, nil
		}
	}
}

// fresh returns the cached certificate at key if it matches and is not due.
func (m *Manager) fresh(key string, matches func(*Certificate) bool) *Certificate {
	now := m.clock.Now()
	m.mu.RLock()
	e := m.certs[key]
	m.mu.RUnlock()
	if e != nil && matches(e.cert) && now.Before(e.renewAt) && !e.cert.ExpiredAt(now) {
		return e.cert
	}
	return nil
}

// store caches c at key in place of old (nil for a first issue) and, for a
// replacement, counts and announces the renewal and returns true. A
// replacement whose entry was forgotten meanwhile is not resurrected.
func (m *Manager) store(key string, old *entry, c *Certificate) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	cur := m.certs[key]
	if old != nil && cur != old {
		return false
	}
	m.certs[key] = &entry{cert: c, renewAt: c.RenewAt}
	if old != nil {
		m.metrics.renewals.WithLabelValues(string(c.Kind)).Inc()
		m.log.Info("certificate renewed", "certificate", key, "serial", c.SerialNumber(), "notAfter", c.NotAfter, "renewAt", c.RenewAt)
		for s := range m.subs {
			s.addRenewal(key, c)
		}
	}
	return old != nil
}

func (m *Manager) markAllDueLocked() {
	for _, e := range m.certs {
		e.renewAt = time.Time{}
	}
}

func (m *Manager) issueService(ctx context.Context, id identity.Identity) (*Certificate, error) {
	cn := id.CommonName(m.trustDomain)
	c, err := m.issue(ctx, LeafRequest{
		Kind: KindService, CommonName: cn, DNSNames: []string{cn}, URIs: []*url.URL{id.SPIFFEID(m.trustDomain)},
		ExtKeyUsage: serviceExtKeyUsage, Validity: m.Settings().ServiceValidity,
	})
	if err != nil {
		return nil, err
	}
	c.Identity = id
	return c, nil
}

func (m *Manager) issueProxy(ctx context.Context, p Proxy) (*Certificate, error) {
	c, err := m.issue(ctx, LeafRequest{
		Kind: KindProxy, CommonName: p.CommonName(m.trustDomain), URIs: []*url.URL{p.URI(m.trustDomain)},
		ExtKeyUsage: proxyExtKeyUsage, Validity: m.Settings().ProxyValidity,
	})
	if err != nil {
		return nil, err
	}
	c.Identity, c.Proxy = p.Identity, p
	return c, nil
}

// issue generates a key, has the signer sign a leaf for it, and checks the
// result: the leaf holds that key, is valid now, and verifies against the
// trust bundle.
func (m *Manager) issue(ctx context.Context, req LeafRequest) (c *Certificate, err error) {
	start := time.Now()
	defer func() {
		if err != nil {
			m.metrics.failures.WithLabelValues(string(req.Kind)).Inc()
			err = fmt.Errorf("issuing %s certificate %q: %w", req.Kind, req.CommonName, err)
		}
	}()
	key, err := m.Settings().Key.GenerateKey()
	if err != nil {
		return nil, err
	}
	signed, err := m.signer.Sign(ctx, SigningRequest{
		CommonName: req.CommonName, DNSNames: req.DNSNames, URIs: req.URIs,
		ExtKeyUsage: req.ExtKeyUsage, Validity: req.Validity, Key: key,
	})
	if err != nil {
		return nil, err
	}
	chain, err := ParseCertificatesPEM(signed.CertChainPEM)
	if err != nil {
		return nil, fmt.Errorf("signer returned a bad chain: %w", err)
	}
	leaf := chain[0]
	if pub, ok := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool }); !ok || !pub.Equal(key.Public()) {
		return nil, errors.New("signer returned a certificate for another key")
	}
	now := m.clock.Now()
	if !now.Before(leaf.NotAfter) || now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("signer returned a certificate valid from %s to %s, not now (%s)", leaf.NotBefore, leaf.NotAfter, now)
	}
	m.refreshRoots()
	m.mu.RLock()
	bundle := m.bundle
	m.mu.RUnlock()
	if bundle.pool == nil {
		return nil, errors.New("no trust bundle: the signer reported no CA and Options.TrustBundlePEM is empty")
	}
	if err := m.verifyLeaf(chain, signed, bundle, now); err != nil {
		return nil, err
	}
	keyPEM, err := EncodePrivateKeyPEM(key)
	if err != nil {
		return nil, err
	}
	m.metrics.issuedOne(req.Kind, time.Since(start).Seconds())
	return &Certificate{
		Kind:           req.Kind,
		CertChainPEM:   signed.CertChainPEM,
		PrivateKeyPEM:  keyPEM,
		IssuingCAPEM:   signed.IssuingCAPEM,
		TrustBundlePEM: bundle.pem,
		Leaf:           leaf,
		NotBefore:      leaf.NotBefore,
		NotAfter:       leaf.NotAfter,
		RenewAt:        m.renewalTime(leaf, now),
	}, nil
}

// verifyLeaf checks that the leaf chains to the trust bundle at now. For a
// signer that already checked its signature (Verified), it checks that the
// issuing CA chains to the bundle (remembered per CA and bundle) and that the
// leaf names it as issuer.
func (m *Manager) verifyLeaf(chain []*x509.Certificate, signed *SignedCertificate, bundle trustBundle, now time.Time) error {
	leaf := chain[0]
	if signed.Verified && len(signed.IssuingCAPEM) > 0 {
		cas, err := ParseCertificatesPEM(signed.IssuingCAPEM)
		if err != nil {
			return fmt.Errorf("signer returned a bad CA: %w", err)
		}
		issuer := cas[0]
		if !bytes.Equal(leaf.RawIssuer, issuer.RawSubject) || now.Before(issuer.NotBefore) || !now.Before(issuer.NotAfter) {
			return fmt.Errorf("signed certificate's issuer %q is not the CA %q the signer reported, valid now", leaf.Issuer, issuer.Subject)
		}
		key := bundle.fingerprint + "/" + Fingerprint(issuer)
		if _, ok := m.verifiedCAs.Load(key); ok {
			return nil
		}
		if err := verifyChain(issuer, cas[1:], bundle.pool, now); err != nil {
			return fmt.Errorf("signing CA does not verify against the trust bundle: %w", err)
		}
		m.verifiedCAs.Store(key, true)
		return nil
	}
	if err := verifyChain(leaf, chain[1:], bundle.pool, now); err != nil {
		return fmt.Errorf("signed certificate does not verify against the trust bundle: %w", err)
	}
	return nil
}

func verifyChain(c *x509.Certificate, intermediates []*x509.Certificate, roots *x509.CertPool, now time.Time) error {
	pool := x509.NewCertPool()
	for _, ic := range intermediates {
		pool.AddCert(ic)
	}
	_, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: pool, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	return err
}
