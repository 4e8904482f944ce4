package internalca

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// A root rotation has three steps, each a new RootSet (docs/root-rotation.md):
//
//  1. AddTrusted: peers learn to trust the new root; leaves still come from the old.
//  2. WithSigning: the new root signs; the Manager reissues every leaf from it.
//     Old leaves still verify, since the old root is still trusted.
//  3. RemoveTrusted: the old root goes once no leaf it signed is in use.

// AddTrusted returns a copy of s that also trusts root.
func (s *RootSet) AddTrusted(root *x509.Certificate) *RootSet {
	out := &RootSet{Signing: s.Signing, Trusted: slices.Clone(s.Trusted)}
	if !contains(out.Trusted, root) {
		out.Trusted = append(out.Trusted, root)
	}
	return out
}

// WithSigning returns a copy of s that signs with signing. The signing CA must
// already chain to a trusted root (step 1 first), so that no peer ever sees a
// leaf it cannot verify.
func (s *RootSet) WithSigning(signing Signing, now time.Time) (*RootSet, error) {
	out := &RootSet{Signing: signing, Trusted: slices.Clone(s.Trusted)}
	if err := out.verify(now); err != nil {
		return nil, fmt.Errorf("add the new root to the trust bundle before signing with it: %w", err)
	}
	return out, nil
}

// RemoveTrusted returns a copy of s without root. Removing the root the
// signing CA chains to is refused.
func (s *RootSet) RemoveTrusted(root *x509.Certificate, now time.Time) (*RootSet, error) {
	out := &RootSet{Signing: s.Signing}
	for _, c := range s.Trusted {
		if !c.Equal(root) {
			out.Trusted = append(out.Trusted, c)
		}
	}
	if len(out.Trusted) == len(s.Trusted) {
		return nil, fmt.Errorf("root %q is not in the trust bundle", root.Subject.CommonName)
	}
	if err := out.verify(now); err != nil {
		return nil, fmt.Errorf("cannot remove the root that signs: %w", err)
	}
	return out, nil
}

// Save writes set to the existing Secret (a rotation step). A running CA picks
// it up through Follow.
func (s *SecretStore) Save(ctx context.Context, set *RootSet) error {
	if set == nil {
		return errors.New("no roots to save")
	}
	crt, key, bundle, err := set.Encode()
	if err != nil {
		return err
	}
	var sec corev1.Secret
	if err := s.Client.Get(ctx, s.key(), &sec); err != nil {
		return err
	}
	sec.Data = map[string][]byte{KeyCert: crt, KeyKey: key, KeyBundle: bundle}
	if err := s.Client.Update(ctx, &sec); err != nil {
		return fmt.Errorf("updating root CA Secret %s: %w", s.key(), err)
	}
	return nil
}
