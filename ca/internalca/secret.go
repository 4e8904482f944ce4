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

// MalformedSecretError says the root Secret exists but cannot be used. Weft
// never overwrites such a Secret: fix it or delete it.
type MalformedSecretError struct {
	Namespace, Name string
	Err             error
}

func (e *MalformedSecretError) Error() string {
	return fmt.Sprintf("root CA Secret %s/%s is malformed (fix or delete it; Weft will not overwrite it): %v", e.Namespace, e.Name, e.Err)
}

func (e *MalformedSecretError) Unwrap() error { return e.Err }

// SecretStore keeps a RootSet in a Secret.
type SecretStore struct {
	Client    client.Client
	Namespace string
	Name      string
	// Clock tells the time for validity checks; default the real clock.
	Clock clock.PassiveClock
}

func (s *SecretStore) now() time.Time {
	if s.Clock == nil {
		return time.Now()
	}
	return s.Clock.Now()
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
// returns it. If another replica creates the Secret first, that one is used.
// A malformed Secret is an error and is left as it is. To bring your own CA,
// create the Secret before Weft starts.
func (s *SecretStore) LoadOrCreate(ctx context.Context) (*RootSet, error) {
	set, err := s.Load(ctx)
	if err == nil || !apierrors.IsNotFound(err) {
		return set, err
	}
	set, err = NewRoot(DefaultRootCommonName, DefaultRootValidity, s.now())
	if err != nil {
		return nil, fmt.Errorf("generating a root CA: %w", err)
	}
	crt, key, bundle, err := set.Encode()
	if err != nil {
		return nil, err
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
		if apierrors.IsAlreadyExists(err) {
			return s.Load(ctx)
		}
		return nil, fmt.Errorf("creating root CA Secret %s/%s: %w", s.Namespace, s.name(), err)
	}
	return set, nil
}

// Follow re-reads the Secret every interval until ctx ends and hands changed,
// valid contents to a.SetRoots: this is how a root rotation done by editing
// the Secret (see docs/root-rotation.md) reaches a running CA. A Secret that
// turns malformed or disappears is logged and the last good roots keep
// signing. A nil clk is the real clock.
func (s *SecretStore) Follow(ctx context.Context, a *Authority, clk clock.Clock, interval time.Duration, log *slog.Logger) {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	var lastVersion string
	for {
		select {
		case <-ctx.Done():
			return
		case <-clk.After(interval):
		}
		var sec corev1.Secret
		if err := s.Client.Get(ctx, s.key(), &sec); err != nil {
			if ctx.Err() == nil {
				log.Error("reading the root CA Secret; keeping the current roots", "secret", s.key().String(), "error", err)
			}
			continue
		}
		if sec.ResourceVersion == lastVersion {
			continue
		}
		set, err := s.parse(&sec)
		if err != nil {
			var malformed *MalformedSecretError
			if errors.As(err, &malformed) {
				log.Error("root CA Secret changed but is unusable; keeping the current roots", "error", err)
			}
			lastVersion = sec.ResourceVersion
			continue
		}
		lastVersion = sec.ResourceVersion
		if !sameRoots(set, a.RootSet()) {
			log.Info("root CA Secret changed", "secret", s.key().String(), "trustedRoots", len(set.Trusted),
				"signing", set.Signing.Cert.Subject.CommonName)
			a.SetRoots(set)
		}
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
