package main

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmmeta "github.com/cert-manager/cert-manager/pkg/apis/meta/v1"
	cmclient "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/certmanager"
	"github.com/weft-mesh/weft/ca/internalca"
)

// The certificate providers, by OSM's names (--certificate-provider).
const (
	providerInternal    = "internal"
	providerTresor      = "tresor" // OSM's name for the internal CA
	providerCertManager = "cert-manager"
)

// Flags named in errors, so that each names the flag at fault.
const (
	flagCertProvider  = "certificate-provider"
	flagCASecret      = "ca-secret"
	flagCMIssuerName  = "cert-manager-issuer-name"
	flagCMIssuerKind  = "cert-manager-issuer-kind"
	flagCMIssuerGroup = "cert-manager-issuer-group"
	flagCMTrustBundle = "cert-manager-trust-bundle"
)

// certManagerOptions are the --cert-manager-* flags.
type certManagerOptions struct {
	issuerName, issuerKind, issuerGroup string
	// trustBundle is Secret/<name>/<key> or ConfigMap/<name>/<key> in the
	// mesh namespace; empty: status.ca of each CertificateRequest.
	trustBundle string
}

func (o options) usesCertManager() bool { return o.certProvider == providerCertManager }

// checkCertificateProvider refuses at start the flags that contradict the
// chosen provider, naming the flag, rather than ignoring them.
func (o options) checkCertificateProvider() error {
	changed := func(name string) bool { return o.changed != nil && o.changed(name) }
	cm := o.certManager
	switch o.certProvider {
	case "", providerInternal, providerTresor:
		for _, f := range []struct {
			name string
			set  bool
		}{
			{flagCMIssuerName, cm.issuerName != ""}, {flagCMIssuerKind, changed(flagCMIssuerKind)},
			{flagCMIssuerGroup, changed(flagCMIssuerGroup)}, {flagCMTrustBundle, cm.trustBundle != ""},
		} {
			if f.set {
				return fmt.Errorf("--%s is for --%s=%s; the internal CA is selected", f.name, flagCertProvider, providerCertManager)
			}
		}
		return nil
	case providerCertManager:
	default:
		return fmt.Errorf("--%s %q: want %s (or %s) or %s", flagCertProvider, o.certProvider, providerInternal, providerTresor, providerCertManager)
	}
	switch {
	case len(o.files) > 0:
		return fmt.Errorf("--files cannot use --%s=%s: without an API server there are no CertificateRequests (files mode keeps its root in --state-dir)", flagCertProvider, providerCertManager)
	case !o.caEnabled:
		return fmt.Errorf("--%s=%s with --enable-ca=false: cert-manager signs for the CA, which is off", flagCertProvider, providerCertManager)
	case cm.issuerName == "":
		return fmt.Errorf("--%s=%s needs --%s", flagCertProvider, providerCertManager, flagCMIssuerName)
	case cm.issuerGroup == "":
		return fmt.Errorf("--%s is empty: cert-manager's issuers are in cert-manager.io", flagCMIssuerGroup)
	case cm.issuerGroup == "cert-manager.io" && cm.issuerKind != cmapi.IssuerKind && cm.issuerKind != cmapi.ClusterIssuerKind:
		return fmt.Errorf("--%s %q: want Issuer or ClusterIssuer (another kind needs its external issuer's --%s)", flagCMIssuerKind, cm.issuerKind, flagCMIssuerGroup)
	case cm.issuerKind == "":
		return fmt.Errorf("--%s is empty", flagCMIssuerKind)
	case o.allowNewRoot:
		return fmt.Errorf("--%s is the internal CA's: with cert-manager, weftd keeps no root", internalca.AllowNewRootFlag)
	case changed(flagCASecret):
		return fmt.Errorf("--%s names the internal CA's root Secret: with cert-manager, weftd keeps no root (the roots it trusts: --%s)", flagCASecret, flagCMTrustBundle)
	}
	if cm.trustBundle != "" {
		if _, err := parseTrustBundleRef(cm.trustBundle); err != nil {
			return err
		}
	}
	return nil
}

// trustBundleRef is where --cert-manager-trust-bundle points.
type trustBundleRef struct{ kind, name, key string }

func parseTrustBundleRef(s string) (trustBundleRef, error) {
	parts := strings.Split(s, "/")
	if len(parts) != 3 || (parts[0] != "Secret" && parts[0] != "ConfigMap") || parts[1] == "" || parts[2] == "" {
		return trustBundleRef{}, fmt.Errorf("--%s %q: want Secret/<name>/<key> or ConfigMap/<name>/<key> (in the mesh namespace)", flagCMTrustBundle, s)
	}
	return trustBundleRef{kind: parts[0], name: parts[1], key: parts[2]}, nil
}

// loadTrustBundle reads the PEM roots --cert-manager-trust-bundle names.
func loadTrustBundle(ctx context.Context, c client.Reader, namespace, ref string) ([]byte, error) {
	r, err := parseTrustBundleRef(ref)
	if err != nil {
		return nil, err
	}
	key := client.ObjectKey{Namespace: namespace, Name: r.name}
	var data []byte
	if r.kind == "Secret" {
		var s corev1.Secret
		if err := c.Get(ctx, key, &s); err != nil {
			return nil, fmt.Errorf("--%s: %w", flagCMTrustBundle, err)
		}
		data = s.Data[r.key]
	} else {
		var cm corev1.ConfigMap
		if err := c.Get(ctx, key, &cm); err != nil {
			return nil, fmt.Errorf("--%s: %w", flagCMTrustBundle, err)
		}
		data = []byte(cm.Data[r.key])
		if len(data) == 0 {
			data = cm.BinaryData[r.key]
		}
	}
	if len(data) == 0 {
		return nil, fmt.Errorf("--%s: %s %s/%s has no key %q", flagCMTrustBundle, r.kind, namespace, r.name, r.key)
	}
	if _, err := ca.ParseCertificatesPEM(data); err != nil {
		return nil, fmt.Errorf("--%s: %s %s/%s key %q: %w", flagCMTrustBundle, r.kind, namespace, r.name, r.key, err)
	}
	return data, nil
}

// startCertManagerSigner runs the certificate manager over cert-manager: each
// leaf is a CertificateRequest in the mesh namespace. No root is kept, so no
// step is the leader's: every replica signs through requests of its own
// (generated names), as cert-manager serves them all.
func startCertManagerSigner(ctx context.Context, g *errgroup.Group, logger *slog.Logger, o options, c client.Client, cfg *rest.Config, reg prometheus.Registerer) (*ca.Manager, error) {
	var bundle []byte
	if o.certManager.trustBundle != "" {
		var err error
		if bundle, err = loadTrustBundle(ctx, c, o.mesh.Namespace, o.certManager.trustBundle); err != nil {
			return nil, err
		}
	}
	cm, err := cmclient.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("cert-manager client: %w", err)
	}
	ref := cmmeta.IssuerReference{Name: o.certManager.issuerName, Kind: o.certManager.issuerKind, Group: o.certManager.issuerGroup}
	signer, err := certmanager.New(certmanager.Options{Client: cm, Namespace: o.mesh.Namespace, IssuerRef: ref, TrustBundlePEM: bundle,
		Logger: logger.With("part", "ca")})
	if err != nil {
		return nil, err
	}
	trust := o.certManager.trustBundle
	if trust == "" {
		trust = "status.ca of each CertificateRequest"
	}
	logger.Info("signing through cert-manager", "issuer", ref.Kind+"/"+ref.Name, "group", ref.Group, "namespace", o.mesh.Namespace, "trustBundle", trust)
	return startManager(ctx, g, logger, o, signer, reg)
}
