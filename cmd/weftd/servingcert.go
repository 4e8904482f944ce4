package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// servingCertificate is weftd's own ADS server certificate, issued by the mesh
// CA (so proxies verify it against the roots they already hold) and renewed
// before it expires.
type servingCertificate struct {
	manager *ca.Manager
	request ca.LeafRequest
	current atomic.Pointer[tls.Certificate]
	renewAt atomic.Pointer[time.Time]
	// signing is the fingerprint of the CA that signed current: when the
	// mesh signs with another root, current is reissued, so that proxies
	// that trust only the new root (after a rotation) still verify weftd.
	signing atomic.Pointer[string]
}

// newServingCertificate issues the certificate for the names of weftd's
// Service, and extraNames (such as the host proxyless workloads reach it at in
// files mode).
func newServingCertificate(ctx context.Context, manager *ca.Manager, o options, extraNames ...string) (*servingCertificate, error) {
	svc := mesh.ServiceDNSNames(o.xdsServiceName, o.mesh.Namespace, o.mesh.ClusterDomain)
	names := append([]string{o.xdsServiceName}, svc[:]...)
	for _, n := range extraNames {
		if !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	s := &servingCertificate{manager: manager, request: ca.LeafRequest{
		Kind:        ca.KindService,
		CommonName:  svc[1],
		DNSNames:    names,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		Validity:    24 * time.Hour,
	}}
	if err := s.issue(ctx); err != nil {
		return nil, err
	}
	return s, nil
}

func (s *servingCertificate) issue(ctx context.Context) error {
	c, err := s.manager.Issue(ctx, s.request)
	if err != nil {
		return fmt.Errorf("issuing the ADS server certificate: %w", err)
	}
	pair, err := tls.X509KeyPair(c.CertChainPEM, c.PrivateKeyPEM)
	if err != nil {
		return err
	}
	renewAt := s.manager.RenewalTime(c.Leaf)
	signing := s.manager.SigningRootFingerprint()
	s.signing.Store(&signing)
	s.current.Store(&pair)
	s.renewAt.Store(&renewAt)
	s.manager.TrackExpiry("ads-server", c.NotAfter)
	return nil
}

// Certificate is the current certificate, for tls.Config.
func (s *servingCertificate) Certificate() (*tls.Certificate, error) { return s.current.Load(), nil }

// Run renews the certificate at its renewal time, and at once when the mesh
// signs with another CA, until ctx ends, retrying a failed issue every ten
// seconds.
func (s *servingCertificate) Run(ctx context.Context, log *slog.Logger) {
	sub := s.manager.Subscribe()
	defer sub.Close()
	for {
		wait := time.Until(*s.renewAt.Load())
		select {
		case <-ctx.Done():
			return
		case <-sub.Ready():
			sub.Take()
			if s.manager.SigningRootFingerprint() == *s.signing.Load() {
				continue
			}
			log.Info("the mesh signs with another CA: reissuing the ADS and webhook server certificate")
		case <-time.After(wait):
		}
		if err := s.issue(ctx); err != nil {
			log.Error("renewing the ADS server certificate failed; retrying", "error", err)
			next := time.Now().Add(10 * time.Second)
			s.renewAt.Store(&next)
		}
	}
}
