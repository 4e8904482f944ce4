package ingressgateway

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	k8sfield "k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/clock"

	"github.com/weft-mesh/weft/ca"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// Labels and annotations on the Secrets the Reconciler manages.
const (
	LabelManagedBy     = "app.kubernetes.io/managed-by"
	LabelComponent     = "app.kubernetes.io/component"
	LabelMeshNamespace = "weft.io/mesh-namespace"
	// AnnotationSpec is a hash of the ingressGateway section the certificate
	// was issued for.
	AnnotationSpec = "weft.io/ingress-gateway-spec"
	// AnnotationSigningCA is the fingerprint of the CA that signed it.
	AnnotationSigningCA = "weft.io/signing-ca"

	managedBy = "weft"
	component = "ingress-gateway-certificate"
)

// Reconciler makes the ingress-gateway Secret match a MeshConfig.
type Reconciler struct {
	store         Store
	manager       *ca.Manager
	meshNamespace string
	clock         clock.PassiveClock
	log           *slog.Logger
}

// NewReconciler returns a Reconciler keeping Secrets in store with
// certificates from m, for the mesh in meshNamespace. A nil clock is the real
// one; a nil logger discards.
func NewReconciler(store Store, m *ca.Manager, meshNamespace string, clk clock.PassiveClock, log *slog.Logger) *Reconciler {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{store: store, manager: m, meshNamespace: meshNamespace, clock: clk, log: log}
}

// Result says when to reconcile again.
type Result struct {
	// RenewAt is when the certificate is due; zero when there is none.
	RenewAt time.Time
}

// Reconcile makes the Secrets match mc (nil: no MeshConfig). With
// spec.certificate.ingressGateway set, the Secret at its secret reference
// holds a valid certificate for its subjectAltNames and validityDuration,
// signed by the current signing CA, with the current trust bundle as ca.crt;
// it is issued when missing, when the section changed, and when due for
// renewal. Any other Secret this mesh manages for the ingress gateway (an old
// location) is deleted; so is every one when the section is gone. A Secret at
// the reference that Weft did not create is an error and is left alone.
func (r *Reconciler) Reconcile(ctx context.Context, mc *configv1alpha2.MeshConfig) (Result, error) {
	var spec *configv1alpha2.IngressGatewayCertSpec
	if mc != nil {
		spec = mc.Spec.Certificate.IngressGateway
	}
	if spec == nil {
		r.manager.UntrackExpiry(string(ca.KindIngressGateway))
		return Result{}, r.deleteManaged(ctx, types.NamespacedName{})
	}
	want, err := r.desired(mc, spec)
	if err != nil {
		return Result{}, err
	}
	renewAt, err := r.ensure(ctx, want)
	if err != nil {
		return Result{}, err
	}
	return Result{RenewAt: renewAt}, r.deleteManaged(ctx, want.key)
}

type desired struct {
	key      types.NamespacedName
	sans     []string
	validity time.Duration
	hash     string
}

func (r *Reconciler) desired(mc *configv1alpha2.MeshConfig, spec *configv1alpha2.IngressGatewayCertSpec) (desired, error) {
	field := func(f string) string {
		return fmt.Sprintf("MeshConfig %s/%s: spec.certificate.ingressGateway.%s", mc.Namespace, mc.Name, f)
	}
	d := desired{key: types.NamespacedName{Namespace: spec.Secret.Namespace, Name: spec.Secret.Name}, sans: spec.SubjectAltNames}
	if d.key.Namespace == "" {
		d.key.Namespace = r.meshNamespace
	}
	if d.key.Name == "" {
		return d, errors.New(field("secret.name") + " is empty")
	}
	if len(d.sans) == 0 || slicesContainsEmpty(d.sans) {
		return d, errors.New(field("subjectAltNames") + " must list at least one non-empty name")
	}
	// The rule admission applies too (ca.ValidateMeshConfig).
	v, ferr := ca.ParseValidity(k8sfield.NewPath("spec", "certificate", "ingressGateway", "validityDuration"), spec.ValidityDuration)
	if ferr != nil {
		return d, fmt.Errorf("MeshConfig %s/%s: %w", mc.Namespace, mc.Name, ferr)
	}
	d.validity = v
	sum := sha256.Sum256([]byte(strings.Join(d.sans, "\n") + "\n" + v.String()))
	d.hash = hex.EncodeToString(sum[:8])
	return d, nil
}

// ensure creates or updates the Secret at want.key and returns its renewal time.
func (r *Reconciler) ensure(ctx context.Context, want desired) (time.Time, error) {
	current, err := r.store.Get(ctx, want.key)
	exists := err == nil
	if err != nil && !apierrors.IsNotFound(err) {
		return time.Time{}, fmt.Errorf("reading ingress gateway Secret %s: %w", want.key, err)
	}
	sec := corev1.Secret{}
	if exists {
		sec = *current
	}
	if exists && !r.manages(&sec) {
		return time.Time{}, fmt.Errorf("ingress gateway Secret %s exists but was not created by Weft (no label %s=%s, %s=%s); not overwriting it: delete it or point spec.certificate.ingressGateway.secret elsewhere",
			want.key, LabelManagedBy, managedBy, LabelMeshNamespace, r.meshNamespace)
	}
	var leaf *x509.Certificate
	reason := "missing"
	if exists {
		leaf, reason = r.staleness(&sec, want)
		if reason == "" {
			r.manager.TrackExpiry(string(ca.KindIngressGateway), leaf.NotAfter)
			return r.manager.RenewalTime(leaf), nil
		}
	}
	cert, err := r.manager.Issue(ctx, ca.LeafRequest{
		Kind: ca.KindIngressGateway, CommonName: want.sans[0], DNSNames: want.sans,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth, x509.ExtKeyUsageServerAuth},
		Validity:    want.validity, Renewal: reason == "due for renewal",
	})
	if err != nil {
		return time.Time{}, err
	}
	sec.Namespace, sec.Name = want.key.Namespace, want.key.Name
	sec.Type = corev1.SecretTypeTLS
	sec.Labels = mergeMaps(sec.Labels, map[string]string{LabelManagedBy: managedBy, LabelComponent: component, LabelMeshNamespace: r.meshNamespace})
	sec.Annotations = mergeMaps(sec.Annotations, map[string]string{AnnotationSpec: want.hash, AnnotationSigningCA: r.manager.SigningRootFingerprint()})
	sec.Data = map[string][]byte{
		corev1.TLSCertKey:       cert.CertChainPEM,
		corev1.TLSPrivateKeyKey: cert.PrivateKeyPEM,
		"ca.crt":                cert.TrustBundlePEM,
	}
	if err := r.store.Put(ctx, &sec, exists); err != nil {
		return time.Time{}, fmt.Errorf("writing ingress gateway Secret %s: %w", want.key, err)
	}
	r.log.Info("ingress gateway certificate written", "secret", want.key.String(), "reason", reason,
		"subjectAltNames", want.sans, "notAfter", cert.NotAfter)
	r.manager.TrackExpiry(string(ca.KindIngressGateway), cert.NotAfter)
	return cert.RenewAt, nil
}

// staleness returns the Secret's leaf and why it must be reissued, or "" when
// it is fine.
func (r *Reconciler) staleness(sec *corev1.Secret, want desired) (*x509.Certificate, string) {
	certs, err := ca.ParseCertificatesPEM(sec.Data[corev1.TLSCertKey])
	if err != nil || len(sec.Data[corev1.TLSPrivateKeyKey]) == 0 {
		return nil, "unreadable"
	}
	leaf := certs[0]
	switch {
	case sec.Annotations[AnnotationSpec] != want.hash:
		return leaf, "spec changed"
	case sec.Annotations[AnnotationSigningCA] != r.manager.SigningRootFingerprint():
		return leaf, "signing CA changed"
	case string(sec.Data["ca.crt"]) != string(r.manager.Bundle()):
		return leaf, "trust bundle changed"
	case !r.clock.Now().Before(r.manager.RenewalTime(leaf)):
		return leaf, "due for renewal"
	}
	return leaf, ""
}

func (r *Reconciler) manages(sec *corev1.Secret) bool {
	return sec.Labels[LabelManagedBy] == managedBy && sec.Labels[LabelComponent] == component &&
		sec.Labels[LabelMeshNamespace] == r.meshNamespace
}

// deleteManaged deletes the Secrets this mesh manages for the ingress gateway,
// except keep.
func (r *Reconciler) deleteManaged(ctx context.Context, keep types.NamespacedName) error {
	list, err := r.store.List(ctx, map[string]string{
		LabelManagedBy: managedBy, LabelComponent: component, LabelMeshNamespace: r.meshNamespace,
	})
	if err != nil {
		return fmt.Errorf("listing ingress gateway Secrets: %w", err)
	}
	var errs []error
	for i := range list {
		sec := &list[i]
		key := types.NamespacedName{Namespace: sec.Namespace, Name: sec.Name}
		if key == keep {
			continue
		}
		err := r.store.Delete(ctx, sec)
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("deleting ingress gateway Secret %s: %w", key, err))
			continue
		}
		r.log.Info("ingress gateway Secret deleted", "secret", key.String())
	}
	return errors.Join(errs...)
}

func mergeMaps(dst, src map[string]string) map[string]string {
	if dst == nil {
		dst = map[string]string{}
	}
	for k, v := range src {
		dst[k] = v
	}
	return dst
}

func slicesContainsEmpty(s []string) bool {
	for _, v := range s {
		if strings.TrimSpace(v) == "" {
			return true
		}
	}
	return false
}
