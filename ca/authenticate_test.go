package ca_test

import (
	"context"
	"crypto/x509"
	"testing"
	"time"

	"github.com/weft-mesh/weft/ca"
)

// AuthenticateProxy trusts the signatures the TLS handshake verified, and
// checks again only what can change after it: the trust bundle and the time.
func TestAuthenticateProxyOnAVerifiedChain(t *testing.T) {
	ctx := context.Background()
	proxy := ca.Proxy{ID: "0b7d4c2e-8f0a-4a43-9d7e-5b2f3c1a9e11", Kind: ca.ProxySidecar, Identity: bookbuyer}
	f := newFixture(t, ca.Options{})
	rootOf := func(f *fixture) *x509.Certificate {
		t.Helper()
		roots, err := ca.ParseCertificatesPEM(f.manager.Bundle())
		if err != nil || len(roots) != 1 {
			t.Fatalf("bundle: %d roots, %v", len(roots), err)
		}
		return roots[0]
	}
	root := rootOf(f)
	pc, err := f.manager.ProxyCertificate(ctx, proxy)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := f.manager.ServiceCertificate(ctx, bookbuyer)
	if err != nil {
		t.Fatal(err)
	}
	other := newFixture(t, ca.Options{})
	foreign, err := other.manager.ProxyCertificate(ctx, proxy)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		chain   []*x509.Certificate
		at      time.Time
		wantErr string
	}{
		{"a proxy certificate chained to the bundle's root names its proxy", []*x509.Certificate{pc.Leaf, root}, start, ""},
		{"a chain to another root is refused", []*x509.Certificate{foreign.Leaf, rootOf(other)}, start, "is not in the trust bundle"},
		{"an expired certificate is refused", []*x509.Certificate{pc.Leaf, root}, pc.NotAfter.Add(time.Second), "is not valid at"},
		{"a certificate not yet valid is refused", []*x509.Certificate{pc.Leaf, root}, pc.Leaf.NotBefore.Add(-time.Second), "is not valid at"},
		{"a service certificate is not a proxy certificate", []*x509.Certificate{sc.Leaf, root}, start, "is not a proxy certificate"},
		{"a leaf without its verified chain is refused", []*x509.Certificate{pc.Leaf}, start, "no verified client certificate chain"},
		{"no chain is refused", nil, start, "no verified client certificate chain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.clock.SetTime(tt.at)
			got, err := f.manager.AuthenticateProxy(tt.chain)
			switch {
			case tt.wantErr == "" && (err != nil || got != proxy):
				t.Fatalf("AuthenticateProxy = %v, %v; want %v", got, err, proxy)
			case tt.wantErr != "" && (err == nil || !contains(err.Error(), tt.wantErr)):
				t.Fatalf("AuthenticateProxy = %v, %v; want an error containing %q", got, err, tt.wantErr)
			}
		})
	}
}

// What a stream's authentication costs: verifying the chain again (the
// signature check dominates) against checking the handshake's verified chain.
func BenchmarkStreamAuthentication(b *testing.B) {
	proxy := ca.Proxy{ID: "0b7d4c2e-8f0a-4a43-9d7e-5b2f3c1a9e11", Kind: ca.ProxySidecar, Identity: bookbuyer}
	f := newFixture(b, ca.Options{})
	pc, err := f.manager.ProxyCertificate(context.Background(), proxy)
	if err != nil {
		b.Fatal(err)
	}
	roots, err := ca.ParseCertificatesPEM(f.manager.Bundle())
	if err != nil {
		b.Fatal(err)
	}
	chain := []*x509.Certificate{pc.Leaf, roots[0]}
	b.Run("VerifyProxyCertificate", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.manager.VerifyProxyCertificate(chain); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AuthenticateProxy", func(b *testing.B) {
		for b.Loop() {
			if _, err := f.manager.AuthenticateProxy(chain); err != nil {
				b.Fatal(err)
			}
		}
	})
}
