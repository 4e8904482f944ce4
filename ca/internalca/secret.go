package internalca

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultSecretName is the root Secret's name when none is configured.
const DefaultSecretName = "weft-ca-root"

// Secret data keys.
const (
	KeyCert   = corev1.TLSCertKey       // tls.crt: the signing CA, then its intermediates
	KeyKey    = corev1.TLSPrivateKeyKey // tls.key: the signing CA's key
	KeyBundle = "ca.crt"                // ca.crt: every trusted root
)

// AllowNewRootFlag is weftd's flag that lets LoadOrCreate mint a new root
// although something still trusts the lost one (SecretStore.AllowNewRoot).
const AllowNewRootFlag = "allow-new-root"

// MalformedSecretError says the root Secret exists but cannot be used. Weft
// never overwrites such a Secret. It must be repaired, not deleted: every
// proxy trusts the root it holds.
type MalformedSecretError struct {
	Namespace, Name string
	Err             error
}

func (e *MalformedSecretError) Error() string {
	key := "the key named above"
	var fe fieldError
	if errors.As(e.Err, &fe) {
		key = fe.key
	}
	return fmt.Sprintf("root CA Secret %s/%s is malformed: %v. Weft will not overwrite it: restore %s from a backup of the Secret. "+
		"Do not delete it: every proxy trusts the root it holds, so deleting the Secret cuts every proxy off, "+
		"unless weftd is then started with --%s and every meshed workload is restarted",
		e.Namespace, e.Name, e.Err, key, AllowNewRootFlag)
}

func (e *MalformedSecretError) Unwrap() error { return e.Err }

// SecretStore keeps a RootSet in a Secret.
type SecretStore struct {
	Client    client.Client
	Namespace string
	Name      string
	// Clock tells the time for validity checks; default the real clock.
	Clock clock.PassiveClock
	// TrustedElsewhere, when set, says what in the cluster still trusts a
	// root (such as "the caBundle of webhook configuration
	// weft-sidecar-injector"), or "" when nothing does (a first install).
	// LoadOrCreate asks it when the Secret is missing.
	TrustedElsewhere func(ctx context.Context) (string, error)
	// AllowNewRoot lets LoadOrCreate mint a new root although
	// TrustedElsewhere reports that the lost one is still trusted (weftd's
	// --allow-new-root). Every meshed workload must then be restarted.
	AllowNewRoot bool
	// Logger logs a new root minted over a lost one; default discards.
	Logger *slog.Logger
	// Leading, when set, says whether this replica may write the Secret (it
	// holds weftd's leader lease). While it says false, LoadOrCreate waits
	// for the Secret (polling every WaitInterval) instead of creating it,
	// and Follow does not restore a deleted Secret.
	Leading func() bool
	// WaitInterval is LoadOrCreate's polling interval; default a second.
	WaitInterval time.Duration
}

func (s *SecretStore) leading() bool { return s.Leading == nil || s.Leading() }

func (s *SecretStore) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
}

func (s *SecretStore) log() *slog.Logger {
	if s.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return s.Logger
}

func (s *SecretStore) key() types.NamespacedName {
	return types.NamespacedName{Namespace: s.Namespace, Name: s.name()}
}

func (s *SecretStore) name() string {
	if s.Name == "" {
		return DefaultSecretName
	}
	return s.Name
}

// Load reads the Secret. A missing Secret gives an error for which
// apierrors.IsNotFound is true; an unusable one a *MalformedSecretError.
func (s *SecretStore) Load(ctx context.Context) (*RootSet, error) {
	var sec corev1.Secret
	if err := s.Client.Get(ctx, s.key(), &sec); err != nil {
		return nil, err
	}
	return s.parse(&sec)
}

func (s *SecretStore) parse(sec *corev1.Secret) (*RootSet, error) {
	set, err := ParseRootSet(sec.Data[KeyCert], sec.Data[KeyKey], sec.Data[KeyBundle], s.now())
	if err != nil {
		return nil, &MalformedSecretError{Namespace: sec.Namespace, Name: sec.Name, Err: err}
	}
	return set, nil
}

// LoadOrCreate returns the RootSet in the Secret, or, when there is no
// Secret, generates a root (ECDSA P-256, DefaultRootValidity), stores it and
// returns it. If another replica creates the Secret first, that one is used;
// a replica that does not lead (Leading) waits for the leader's.
// A malformed Secret is an error and is left as it is. To bring your own CA,
// create the Secret before Weft starts.
//
// A missing Secret is not always a first install: when TrustedElsewhere says
// that something still trusts the root it held, a new root would cut every
// proxy off, so LoadOrCreate refuses unless AllowNewRoot is set.
func (s *SecretStore) LoadOrCreate(ctx context.Context) (*RootSet, error) {
	set, err := s.Load(ctx)
	if err == nil || !apierrors.IsNotFound(err) {
		return set, err
	}
	if !s.leading() {
		return s.waitForSecret(ctx)
	}
	if err := s.checkNewRootIsSafe(ctx); err != nil {
		return nil, err
	}
	set, err = NewRoot(DefaultRootCommonName, DefaultRootValidity, s.now())
	if err != nil {
		return nil, fmt.Errorf("generating a root CA: %w", err)
	}
	if err := s.create(ctx, set); err != nil {
		if apierrors.IsAlreadyExists(err) {
			return s.Load(ctx)
		}
		return nil, err
	}
	return set, nil
}

// waitForSecret polls until the Secret exists, or until this replica leads
// (then LoadOrCreate again).
func (s *SecretStore) waitForSecret(ctx context.Context) (*RootSet, error) {
	interval := s.WaitInterval
	if interval <= 0 {
		interval = time.Second
	}
	s.log().Info("waiting for the leader to create the root CA Secret", "secret", s.key().String())
	for {
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(interval):
		}
		if s.leading() {
			return s.LoadOrCreate(ctx)
		}
		set, err := s.Load(ctx)
		if err == nil || !apierrors.IsNotFound(err) {
			return set, err
		}
	}
}

// checkNewRootIsSafe asks TrustedElsewhere whether the missing Secret's root
// is still trusted, and refuses a new root then, unless AllowNewRoot.
func (s *SecretStore) checkNewRootIsSafe(ctx context.Context) error {
	if s.TrustedElsewhere == nil {
		return nil
	}
	evidence, err := s.TrustedElsewhere(ctx)
	switch {
	case (err != nil || evidence != "") && s.AllowNewRoot:
		s.log().Warn("the mesh root Secret is missing and the root it held may still be trusted; minting a new root as --"+AllowNewRootFlag+
			" asks: restart every meshed workload so its proxy trusts it", "secret", s.key().String(), "trustedBy", evidence, "error", err)
		return nil
	case err != nil:
		return fmt.Errorf("the mesh root Secret %s is missing, and whether anything still trusts the root it held cannot be told, so no new root is minted: %w", s.key(), err)
	case evidence != "":
		return fmt.Errorf("the mesh root Secret %s is missing, but %s trusts the root it held: "+
			"restore the Secret from a backup (kubectl apply -f <backup>), or start weftd with --%s to mint a new root, "+
			"then restart every meshed workload (kubectl rollout restart deployment -n <namespace>) so its proxy trusts it",
			s.key(), evidence, AllowNewRootFlag)
	}
	return nil
}

// create writes set as a new Secret.
func (s *SecretStore) create(ctx context.Context, set *RootSet) error {
	crt, key, bundle, err := set.Encode()
	if err != nil {
		return err
	}
	sec := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: s.Namespace, Name: s.name(),
			Labels: map[string]string{"app.kubernetes.io/managed-by": "weft", "app.kubernetes.io/component": "ca-root"},
		},
		Type: corev1.SecretTypeTLS,
		Data: map[string][]byte{KeyCert: crt, KeyKey: key, KeyBundle: bundle},
	}
	if err := s.Client.Create(ctx, sec); err != nil {
		return fmt.Errorf("creating root CA Secret %s: %w", s.key(), err)
	}
	return nil
}

// Follow re-reads the Secret every interval until ctx ends and hands changed,
// valid contents to a.SetRoots: this is how a root rotation done by editing
// the Secret (see docs/root-rotation.md) reaches a running CA. A Secret that
// turns malformed is logged and the last good roots keep signing. A deleted
// Secret is re-created from the running roots (by the leader), with a warning: without it, the
// next start would have no root that the mesh's proxies trust. A nil clk is
// the real clock.
func (s *SecretStore) Follow(ctx context.Context, a *Authority, clk clock.Clock, interval time.Duration, log *slog.Logger) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var lastVersion string
	read := func(ctx context.Context) (*RootSet, error) {
		var sec corev1.Secret
		if err := s.Client.Get(ctx, s.key(), &sec); err != nil {
			return nil, err
		}
		if sec.ResourceVersion == lastVersion {
			return nil, errUnchanged
		}
		lastVersion = sec.ResourceVersion
		return s.parse(&sec)
	}
	follow(ctx, a, clk, interval, log, "Secret "+s.key().String(), read, apierrors.IsNotFound,
		func(ctx context.Context, set *RootSet) { s.restore(ctx, set, log) })
}

// restore re-creates the deleted Secret from the running roots, on the
// leader only.
func (s *SecretStore) restore(ctx context.Context, set *RootSet, log *slog.Logger) {
	if !s.leading() {
		return
	}
	err := s.create(ctx, set)
	switch {
	case err == nil:
		log.Warn("the root CA Secret was deleted; restored it from the running root (to replace the root, rotate it: docs/root-rotation.md)",
			"secret", s.key().String(), "signing", set.Signing.Cert.Subject.CommonName)
	case !apierrors.IsAlreadyExists(err) && ctx.Err() == nil:
		log.Error("the root CA Secret was deleted and restoring it failed; keeping the current roots", "secret", s.key().String(), "error", err)
	}
}

func sameRoots(x, y *RootSet) bool {
	if !x.Signing.Cert.Equal(y.Signing.Cert) || len(x.Trusted) != len(y.Trusted) {
		return false
	}
	for i := range x.Trusted {
		if !x.Trusted[i].Equal(y.Trusted[i]) {
			return false
		}
	}
	return true
}
