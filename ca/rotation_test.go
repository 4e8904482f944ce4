package ca_test

import (
	"context"
	"crypto/x509"
	"testing"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
)

// TestRootRotationLosesNoConnection walks the procedure of
// docs/root-rotation.md. At every step, a peer holding the bundle of the
// previous step or of this one must verify every leaf in use at that moment.
func TestRootRotationLosesNoConnection(t *testing.T) {
	f := newFixture(t, ca.Options{})
	ctx := context.Background()
	sub := f.manager.Subscribe()
	defer sub.Close()
	proxy := ca.Proxy{ID: "0b7d4c2e-8f0a-4a43-9d7e-5b2f3c1a9e11", Kind: ca.ProxySidecar, Identity: bookbuyer}
	oldLeaf, err := f.manager.ServiceCertificate(ctx, bookbuyer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.manager.ProxyCertificate(ctx, proxy); err != nil {
		t.Fatal(err)
	}
	oldRoots := f.authority.RootSet()
	oldRoot := oldRoots.Signing.Cert
	bundle0 := f.manager.Bundle()
	next, err := internalca.NewRoot("next root", internalca.DefaultRootValidity, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	newRoot := next.Signing.Cert

	mustVerify := func(t *testing.T, c *ca.Certificate, bundle []byte) {
		t.Helper()
		if err := verify(t, c, bundle, f.clock.Now(), x509.ExtKeyUsageServerAuth); err != nil {
			t.Errorf("leaf from %q does not verify against a bundle of %d roots: %v", c.Leaf.Issuer.CommonName, rootsIn(t, bundle), err)
		}
	}

	t.Run("signing with a root the bundle does not hold yet is refused", func(t *testing.T) {
		if _, err := oldRoots.WithSigning(next.Signing, f.clock.Now()); err == nil {
			t.Fatal("WithSigning accepted an untrusted root")
		}
	})

	var bundle1 []byte
	t.Run("step 1: adding the new root announces a bundle of both roots and reissues nothing", func(t *testing.T) {
		f.authority.SetRoots(oldRoots.AddTrusted(newRoot))
		if n, err := f.manager.RenewDue(ctx); n != 0 || err != nil {
			t.Fatalf("RenewDue = %d, %v; want nothing reissued", n, err)
		}
		if u := sub.Take(); !u.BundleChanged || len(u.Renewed) != 0 {
			t.Fatalf("announced %+v, want a bundle change only", u)
		}
		bundle1 = f.manager.Bundle()
		if rootsIn(t, bundle1) != 2 {
			t.Fatalf("bundle holds %d roots, want 2", rootsIn(t, bundle1))
		}
		mustVerify(t, oldLeaf, bundle0)
		mustVerify(t, oldLeaf, bundle1)
	})

	var newLeaf *ca.Certificate
	t.Run("step 2: signing with the new root reissues every leaf, and old and new leaves verify against the bundle", func(t *testing.T) {
		step2, err := f.authority.RootSet().WithSigning(next.Signing, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		f.authority.SetRoots(step2)
		if n, err := f.manager.RenewDue(ctx); n != 2 || err != nil {
			t.Fatalf("RenewDue = %d, %v; want the service and the proxy certificate reissued", n, err)
		}
		if u := sub.Take(); len(u.Renewed) != 2 || u.BundleChanged {
			t.Fatalf("announced %d renewals, bundle changed %v; want 2 renewals and the same bundle", len(u.Renewed), u.BundleChanged)
		}
		if newLeaf, err = f.manager.ServiceCertificate(ctx, bookbuyer); err != nil {
			t.Fatal(err)
		}
		if newLeaf.Leaf.CheckSignatureFrom(newRoot) != nil {
			t.Fatal("the reissued leaf is not signed by the new root")
		}
		// Peers that have not yet received a reissued leaf still present
		// the old one; every peer holds bundle1 since step 1.
		mustVerify(t, oldLeaf, bundle1)
		mustVerify(t, newLeaf, bundle1)
		mustVerify(t, oldLeaf, f.manager.Bundle())
		mustVerify(t, newLeaf, f.manager.Bundle())
		pc, _ := f.manager.ProxyCertificate(ctx, proxy)
		if _, err := f.manager.VerifyProxyCertificate([]*x509.Certificate{pc.Leaf}); err != nil {
			t.Errorf("reissued proxy certificate: %v", err)
		}
	})

	t.Run("the root that signs cannot be removed", func(t *testing.T) {
		if _, err := f.authority.RootSet().RemoveTrusted(newRoot, f.clock.Now()); err == nil {
			t.Fatal("RemoveTrusted removed the signing root")
		}
	})

	t.Run("step 3: dropping the old root leaves a bundle that verifies every leaf in use", func(t *testing.T) {
		step3, err := f.authority.RootSet().RemoveTrusted(oldRoot, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		f.authority.SetRoots(step3)
		if n, err := f.manager.RenewDue(ctx); n != 0 || err != nil {
			t.Fatalf("RenewDue = %d, %v; want nothing reissued", n, err)
		}
		if u := sub.Take(); !u.BundleChanged {
			t.Fatal("bundle change not announced")
		}
		bundle3 := f.manager.Bundle()
		if rootsIn(t, bundle3) != 1 {
			t.Fatalf("bundle holds %d roots, want 1", rootsIn(t, bundle3))
		}
		// Peers still on bundle1 accept the new leaves; peers on bundle3 accept them too.
		mustVerify(t, newLeaf, bundle1)
		mustVerify(t, newLeaf, bundle3)
		if err := verify(t, oldLeaf, bundle3, f.clock.Now(), x509.ExtKeyUsageServerAuth); err == nil {
			t.Error("an old-root leaf still verifies after the old root was dropped")
		}
		if c, _ := f.manager.ServiceCertificate(ctx, bookbuyer); c.Leaf.CheckSignatureFrom(newRoot) != nil {
			t.Error("the Manager serves a leaf of the dropped root")
		}
	})
}
