package ca_test

import (
	"context"
	"testing"
	"time"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/pkg/identity"
)

// CheckProxyCertificate is how a proxy certificate kept outside the Manager
// (the injector's bootstrap Secret) is judged: it must be one the Manager
// would still serve.
func TestCheckProxyCertificate(t *testing.T) {
	ctx := context.Background()
	proxy := ca.Proxy{ID: "0b7d4c2e-8f0a-4a43-9d7e-5b2f3c1a9e11", Kind: ca.ProxySidecar, Identity: bookbuyer}
	other := ca.Proxy{ID: "6f1c2a9e-3b4d-4e5f-8a7b-1c2d3e4f5a6b", Kind: ca.ProxySidecar, Identity: bookbuyer}
	f := newFixture(t, ca.Options{})
	issue := func(t *testing.T, f *fixture, p ca.Proxy) *ca.Certificate {
		t.Helper()
		c, err := f.manager.ProxyCertificate(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		f.manager.ForgetProxy(p) // kept elsewhere, as the injector does
		return c
	}
	pc := issue(t, f, proxy)
	sc, err := f.manager.ServiceCertificate(ctx, bookbuyer)
	if err != nil {
		t.Fatal(err)
	}
	foreign := issue(t, newFixture(t, ca.Options{}), proxy)

	tests := []struct {
		name    string
		chain   []byte
		want    ca.Proxy
		at      time.Time
		wantErr string
	}{
		{"a certificate just issued for the proxy is good", pc.CertChainPEM, proxy, start, ""},
		{"it is good until just before its renewal time", pc.CertChainPEM, proxy, pc.RenewAt.Add(-time.Nanosecond), ""},
		{"at its renewal time it is due", pc.CertChainPEM, proxy, pc.RenewAt, "due for renewal at " + pc.RenewAt.String()},
		{"after expiry it does not verify", pc.CertChainPEM, proxy, pc.NotAfter.Add(time.Second), "does not verify"},
		{"garbage does not parse", []byte("not PEM"), proxy, start, "no CERTIFICATE PEM block"},
		{"a certificate of another CA does not verify", foreign.CertChainPEM, proxy, start, "does not verify"},
		{"another proxy's certificate is refused", pc.CertChainPEM, other, start,
			"names proxy " + proxy.String() + ", want " + other.String()},
		{"the same proxy ID under another service account is refused", pc.CertChainPEM,
			ca.Proxy{ID: proxy.ID, Kind: ca.ProxySidecar, Identity: identity.Identity{Namespace: "bookstore", ServiceAccount: "bookthief"}}, start, "names proxy"},
		{"the same proxy ID of another kind is refused", pc.CertChainPEM,
			ca.Proxy{ID: proxy.ID, Kind: ca.ProxyGateway, Identity: bookbuyer}, start, "names proxy"},
		{"a service certificate is not a proxy certificate", sc.CertChainPEM, proxy, start, "is not a proxy certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := f.manager.CheckProxyCertificate(tt.chain, tt.want, tt.at)
			switch {
			case tt.wantErr == "" && err != nil:
				t.Fatalf("CheckProxyCertificate = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !contains(err.Error(), tt.wantErr)):
				t.Fatalf("CheckProxyCertificate = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}

// A root rotation makes a kept certificate due exactly when it makes the
// Manager's cached ones due: when the signing CA changes.
func TestCheckProxyCertificateFollowsARootRotation(t *testing.T) {
	ctx := context.Background()
	proxy := ca.Proxy{ID: "0b7d4c2e-8f0a-4a43-9d7e-5b2f3c1a9e11", Kind: ca.ProxySidecar, Identity: bookbuyer}
	f := newFixture(t, ca.Options{})
	kept, err := f.manager.ProxyCertificate(ctx, proxy)
	if err != nil {
		t.Fatal(err)
	}
	cached, err := f.manager.ServiceCertificate(ctx, bookbuyer)
	if err != nil {
		t.Fatal(err)
	}
	f.manager.ForgetProxy(proxy)
	oldRoot := f.authority.RootSet().Signing.Cert
	next, err := internalca.NewRoot("next root", internalca.DefaultRootValidity, f.clock.Now())
	if err != nil {
		t.Fatal(err)
	}

	t.Run("trusting a new root leaves it good, as it leaves cached certificates", func(t *testing.T) {
		f.authority.SetRoots(f.authority.RootSet().AddTrusted(next.Signing.Cert))
		if err := f.manager.CheckProxyCertificate(kept.CertChainPEM, proxy, f.clock.Now()); err != nil {
			t.Fatalf("CheckProxyCertificate = %v, want nil", err)
		}
		if c, _ := f.manager.ServiceCertificate(ctx, bookbuyer); c != cached {
			t.Fatal("the cached certificate was reissued")
		}
	})
	t.Run("signing with the new root makes it due, as it makes cached certificates due", func(t *testing.T) {
		step2, err := f.authority.RootSet().WithSigning(next.Signing, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		f.authority.SetRoots(step2)
		if err := f.manager.CheckProxyCertificate(kept.CertChainPEM, proxy, f.clock.Now()); err == nil || !contains(err.Error(), "issued by a CA that no longer signs") {
			t.Fatalf("CheckProxyCertificate = %v, want it due because its CA no longer signs", err)
		}
		if c, _ := f.manager.ServiceCertificate(ctx, bookbuyer); c == cached {
			t.Fatal("the cached certificate was not reissued")
		}
	})
	t.Run("a certificate from the new root is good", func(t *testing.T) {
		fresh, err := f.manager.ProxyCertificate(ctx, proxy)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.manager.CheckProxyCertificate(fresh.CertChainPEM, proxy, f.clock.Now()); err != nil {
			t.Fatalf("CheckProxyCertificate = %v, want nil", err)
		}
	})
	t.Run("once the old root is dropped, its certificate does not verify", func(t *testing.T) {
		step3, err := f.authority.RootSet().RemoveTrusted(oldRoot, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		f.authority.SetRoots(step3)
		if err := f.manager.CheckProxyCertificate(kept.CertChainPEM, proxy, f.clock.Now()); err == nil || !contains(err.Error(), "does not verify") {
			t.Fatalf("CheckProxyCertificate = %v, want it not to verify", err)
		}
	})
}
