package injector

import (
	"bytes"
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
)

// ProxyRenewals is what renewing bootstrap Secrets needs from the CA (a
// *ca.Manager).
type ProxyRenewals interface {
	ProxyCertificates
	RenewalTime(leaf *x509.Certificate) time.Time
	Bundle() []byte
}

// BootstrapSecretClient lists and updates Secrets (a client.Client).
type BootstrapSecretClient interface {
	List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error
	Update(ctx context.Context, obj client.Object, opts ...client.UpdateOption) error
}

var (
	_ BootstrapSecretClient = client.Client(nil)
	_ ProxyRenewals         = (*ca.Manager)(nil)
)

// RenewBootstrapSecrets keeps every bootstrap Secret's proxy certificate and
// roots current: a certificate whose renewal time has come is replaced by a new
// one for the same proxy, and roots that differ from the mesh's bundle are
// replaced (a root rotation). The sidecar rereads the files through file-based
// SDS (envoy.BootstrapSDSFiles), so a proxy that reconnects to the control plane
// presents a valid certificate however long it has run. It returns the
// Secrets it updated as namespace/name.
func RenewBootstrapSecrets(ctx context.Context, c BootstrapSecretClient, certs ProxyRenewals, trustDomain string, now time.Time) ([]string, error) {
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets, client.MatchingLabels{LabelManagedBy: managedByWeft, "app.kubernetes.io/component": "envoy-bootstrap"}); err != nil {
		return nil, fmt.Errorf("listing bootstrap Secrets: %w", err)
	}
	var updated []string
	var errs []error
	for i := range secrets.Items {
		s := &secrets.Items[i]
		name := s.Namespace + "/" + s.Name
		changed, err := renewBootstrapSecret(ctx, s, certs, trustDomain, now)
		if err != nil {
			errs = append(errs, fmt.Errorf("bootstrap Secret %s: %w", name, err))
			continue
		}
		if !changed {
			continue
		}
		if err := c.Update(ctx, s); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("updating bootstrap Secret %s: %w", name, err))
			continue
		}
		updated = append(updated, name)
	}
	return updated, errors.Join(errs...)
}

func renewBootstrapSecret(ctx context.Context, s *corev1.Secret, certs ProxyRenewals, trustDomain string, now time.Time) (bool, error) {
	chain, err := ca.ParseCertificatesPEM(s.Data[CertChainFileName])
	if err != nil || len(chain) == 0 {
		return false, fmt.Errorf("%s holds no certificate", CertChainFileName)
	}
	bundle := certs.Bundle()
	if now.Before(certs.RenewalTime(chain[0])) {
		if bytes.Equal(s.Data[TrustedCAFileName], bundle) {
			return false, nil
		}
		s.Data[TrustedCAFileName] = bundle
		return true, nil
	}
	proxy, err := ca.ParseProxyCertificate(chain[0], trustDomain)
	if err != nil {
		return false, err
	}
	cert, err := certs.ProxyCertificate(ctx, proxy)
	if err != nil {
		return false, fmt.Errorf("renewing the certificate of %s: %w", proxy, err)
	}
	if f, ok := certs.(proxyForgetter); ok {
		f.ForgetProxy(proxy) // the Secret is the certificate's only home
	}
	s.Data[CertChainFileName] = cert.CertChainPEM
	s.Data[PrivateKeyFileName] = cert.PrivateKeyPEM
	s.Data[TrustedCAFileName] = cert.TrustBundlePEM
	return true, nil
}

// BootstrapRenewer runs RenewBootstrapSecrets periodically.
type BootstrapRenewer struct {
	Client       BootstrapSecretClient
	Certificates ProxyRenewals
	// TrustDomain names proxy certificates; default cluster.local.
	TrustDomain string
	// Interval between rounds; default one minute (proxy certificates live
	// for hours).
	Interval time.Duration
	// Clock; default the real clock.
	Clock clock.WithTicker
	// Logger logs renewals and failures; default discards.
	Logger *slog.Logger
}

// Run renews every Interval until ctx is done, and returns nil then.
func (r *BootstrapRenewer) Run(ctx context.Context) error {
	td := r.TrustDomain
	if td == "" {
		td = "cluster.local"
	}
	log := orDiscard(r.Logger)
	everyInterval(ctx, r.Clock, r.Interval, func(now time.Time) {
		updated, err := RenewBootstrapSecrets(ctx, r.Client, r.Certificates, td, now)
		for _, u := range updated {
			log.Info("renewed the proxy certificate in a bootstrap Secret", "secret", u)
		}
		if err != nil && ctx.Err() == nil {
			log.Error("renewing bootstrap Secrets", "err", err)
		}
	})
	return nil
}
