package ca_test

import (
	"context"
	"crypto/x509"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/identity"
)

func TestRenewalTimeLeavesTheConfiguredShareWithJitter(t *testing.T) {
	f := newFixture(t, ca.Options{RenewWhenRemaining: 0.25, Jitter: 0.1})
	ctx := context.Background()
	seen := map[time.Time]bool{}
	for _, sa := range []string{"a", "b", "c", "d", "e", "f", "g", "h"} {
		c, err := f.manager.ServiceCertificate(ctx, identity.Identity{Namespace: "ns", ServiceAccount: sa})
		if err != nil {
			t.Fatal(err)
		}
		life := c.NotAfter.Sub(c.NotBefore)
		latest := c.NotAfter.Add(-time.Duration(0.25 * float64(life)))
		earliest := c.NotAfter.Add(-time.Duration(0.35 * float64(life)))
		if c.RenewAt.After(latest) || c.RenewAt.Before(earliest) {
			t.Errorf("%s renews at %s, want between %s and %s", sa, c.RenewAt, earliest, latest)
		}
		seen[c.RenewAt] = true
	}
	if len(seen) < 6 {
		t.Errorf("8 certificates issued at once renew at only %d distinct times; jitter should spread them", len(seen))
	}
}

func TestRenewDueRenewsBeforeExpiry(t *testing.T) {
	f := newFixture(t, ca.Options{})
	ctx := context.Background()
	sub := f.manager.Subscribe()
	defer sub.Close()
	old, err := f.manager.ServiceCertificate(ctx, bookbuyer)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("nothing is renewed before the renewal time", func(t *testing.T) {
		f.clock.SetTime(old.RenewAt.Add(-time.Second))
		if n, err := f.manager.RenewDue(ctx); n != 0 || err != nil {
			t.Fatalf("RenewDue = %d, %v; want 0", n, err)
		}
		select {
		case <-sub.Ready():
			t.Fatal("a renewal was announced")
		default:
		}
	})

	var renewed *ca.Certificate
	t.Run("at the renewal time the certificate is replaced while the old one is still valid", func(t *testing.T) {
		f.clock.SetTime(old.RenewAt)
		if old.ExpiredAt(f.clock.Now()) {
			t.Fatal("renewal time is after expiry")
		}
		if n, err := f.manager.RenewDue(ctx); n != 1 || err != nil {
			t.Fatalf("RenewDue = %d, %v; want 1", n, err)
		}
		if renewed, err = f.manager.ServiceCertificate(ctx, bookbuyer); err != nil {
			t.Fatal(err)
		}
		if renewed == old || renewed.SerialNumber() == old.SerialNumber() {
			t.Fatal("ServiceCertificate still returns the old certificate")
		}
		if !renewed.NotAfter.After(old.NotAfter) {
			t.Errorf("renewed NotAfter %s is not after the old %s", renewed.NotAfter, old.NotAfter)
		}
		if err := verify(t, renewed, f.manager.Bundle(), f.clock.Now(), x509.ExtKeyUsageServerAuth); err != nil {
			t.Error(err)
		}
	})

	t.Run("the renewal is announced to subscribers", func(t *testing.T) {
		select {
		case <-sub.Ready():
		default:
			t.Fatal("no announcement")
		}
		u := sub.Take()
		if len(u.Renewed) != 1 || u.Renewed[0] != renewed || u.BundleChanged {
			t.Fatalf("Take() = %+v, want the renewed certificate only", u)
		}
	})

	t.Run("metrics count the issue and the renewal and report the soonest expiry", func(t *testing.T) {
		if got := counter(t, f, "weft_ca_certificates_issued_total", "service"); got != 2 {
			t.Errorf("issued = %v, want 2", got)
		}
		if got := counter(t, f, "weft_ca_certificate_renewals_total", "service"); got != 1 {
			t.Errorf("renewals = %v, want 1", got)
		}
		want := renewed.NotAfter.Sub(f.clock.Now()).Seconds()
		if got := gauge(t, f, "weft_ca_soonest_certificate_expiry_seconds"); got != want {
			t.Errorf("soonest expiry = %v s, want %v s", got, want)
		}
	})
}

func TestAnExpiredCertificateIsNeverHandedOut(t *testing.T) {
	ctx := context.Background()
	t.Run("a certificate past its expiry is reissued on request even without RenewDue", func(t *testing.T) {
		f := newFixture(t, ca.Options{})
		old, _ := f.manager.ServiceCertificate(ctx, bookbuyer)
		f.clock.SetTime(old.NotAfter.Add(time.Second))
		c, err := f.manager.ServiceCertificate(ctx, bookbuyer)
		if err != nil {
			t.Fatal(err)
		}
		if c.ExpiredAt(f.clock.Now()) {
			t.Fatal("handed out an expired certificate")
		}
	})
	t.Run("when the signer fails, a due but valid certificate is still served", func(t *testing.T) {
		f := newFixture(t, ca.Options{})
		signer := &failingSigner{Signer: f.authority}
		f.manager = mustManager(t, ca.Options{Signer: signer, Clock: f.clock, TrustDomain: identity.DefaultTrustDomain})
		old, _ := f.manager.ServiceCertificate(ctx, bookbuyer)
		signer.fail = true
		f.clock.SetTime(old.RenewAt)
		if c, err := f.manager.ServiceCertificate(ctx, bookbuyer); err != nil || c != old {
			t.Fatalf("got %v, %v; want the still-valid certificate", c, err)
		}
		if n, err := f.manager.RenewDue(ctx); n != 0 || err == nil {
			t.Fatalf("RenewDue = %d, %v; want the signer's error", n, err)
		}
	})
	t.Run("when the signer fails after expiry, the caller gets an error, not the expired certificate", func(t *testing.T) {
		f := newFixture(t, ca.Options{})
		signer := &failingSigner{Signer: f.authority}
		f.manager = mustManager(t, ca.Options{Signer: signer, Clock: f.clock, TrustDomain: identity.DefaultTrustDomain})
		old, _ := f.manager.ServiceCertificate(ctx, bookbuyer)
		signer.fail = true
		f.clock.SetTime(old.NotAfter)
		if c, err := f.manager.ServiceCertificate(ctx, bookbuyer); err == nil {
			t.Fatalf("got certificate expiring %s at %s", c.NotAfter, f.clock.Now())
		}
	})
}

func TestRunRenewsOnTheInjectedClock(t *testing.T) {
	f := newFixture(t, ca.Options{CheckInterval: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	sub := f.manager.Subscribe()
	defer sub.Close()
	old, err := f.manager.ProxyCertificate(ctx, ca.Proxy{ID: "0b7d4c2e-8f0a-4a43-9d7e-5b2f3c1a9e11", Kind: ca.ProxySidecar, Identity: bookbuyer})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() { done <- f.manager.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Step the fake clock once Run waits on it, until the renewal is announced.
	deadline := time.After(10 * time.Second)
	for {
		if f.clock.HasWaiters() {
			f.clock.Step(time.Hour)
		}
		select {
		case <-sub.Ready():
			u := sub.Take()
			if len(u.Renewed) != 1 || u.Renewed[0].Proxy != old.Proxy || u.Renewed[0] == old {
				t.Fatalf("announced %+v, want the proxy's new certificate", u)
			}
			if now := f.clock.Now(); now.Before(old.RenewAt) || !now.Before(old.NotAfter) {
				t.Fatalf("renewed at %s; want between its renewal time %s and expiry %s", now, old.RenewAt, old.NotAfter)
			}
			return
		case <-deadline:
			t.Fatalf("no renewal announced; fake clock at %s, renewal due %s", f.clock.Now(), old.RenewAt)
		case <-time.After(time.Millisecond):
		}
	}
}

func TestUpdateSettingsReissuesWithTheNewSettings(t *testing.T) {
	f := newFixture(t, ca.Options{})
	ctx := context.Background()
	if _, err := f.manager.ServiceCertificate(ctx, bookbuyer); err != nil {
		t.Fatal(err)
	}
	if err := f.manager.UpdateSettings(ca.Settings{ServiceValidity: time.Hour, Key: ca.KeySpec{RSABits: 2048}}); err != nil {
		t.Fatal(err)
	}
	if n, err := f.manager.RenewDue(ctx); n != 1 || err != nil {
		t.Fatalf("RenewDue = %d, %v; want 1", n, err)
	}
	c, _ := f.manager.ServiceCertificate(ctx, bookbuyer)
	if c.Leaf.PublicKeyAlgorithm != x509.RSA || c.NotAfter.Sub(f.clock.Now()) != time.Hour {
		t.Fatalf("got %v key valid %s, want RSA for 1h", c.Leaf.PublicKeyAlgorithm, c.NotAfter.Sub(f.clock.Now()))
	}
	if err := f.manager.UpdateSettings(ca.Settings{Key: ca.KeySpec{RSABits: 1000}}); err == nil {
		t.Fatal("an RSA 1000 key was accepted")
	}
}

type failingSigner struct {
	ca.Signer
	fail bool
}

func (s *failingSigner) Sign(ctx context.Context, req ca.SigningRequest) (*ca.SignedCertificate, error) {
	if s.fail {
		return nil, errors.New("signer unavailable")
	}
	return s.Signer.Sign(ctx, req)
}

func (s *failingSigner) Roots() ca.Roots { return s.Signer.(ca.RootProvider).Roots() }

func mustManager(t *testing.T, opts ca.Options) *ca.Manager {
	t.Helper()
	m, err := ca.NewManager(opts)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func counter(t *testing.T, f *fixture, name, kind string) float64 {
	t.Helper()
	families, err := f.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

func gauge(t *testing.T, f *fixture, name string) float64 {
	t.Helper()
	families, err := f.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() == name {
			return fam.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// Requests and RenewDue share one in-flight issue per certificate: whichever
// starts it, the other waits for it and gets a usable answer, never a panic.
func TestRequestsAndRenewDueOverlapOnADueCertificate(t *testing.T) {
	ctx := context.Background()
	proxy := ca.Proxy{ID: "0b7d4c2e-8f0a-4a43-9d7e-5b2f3c1a9e11", Kind: ca.ProxySidecar, Identity: bookbuyer}
	tests := []struct {
		name    string
		request func(*ca.Manager) (*ca.Certificate, error)
		matches func(*ca.Certificate) bool
	}{
		{"ServiceCertificate while RenewDue renews it",
			func(m *ca.Manager) (*ca.Certificate, error) { return m.ServiceCertificate(ctx, bookbuyer) },
			func(c *ca.Certificate) bool { return c.Kind == ca.KindService && c.Identity == bookbuyer }},
		{"ProxyCertificate while RenewDue renews it",
			func(m *ca.Manager) (*ca.Certificate, error) { return m.ProxyCertificate(ctx, proxy) },
			func(c *ca.Certificate) bool { return c.Kind == ca.KindProxy && c.Proxy == proxy }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, ca.Options{})
			for range 200 {
				old, err := tt.request(f.manager)
				if err != nil {
					t.Fatal(err)
				}
				f.clock.SetTime(old.RenewAt)
				var wg sync.WaitGroup
				var got *ca.Certificate
				var gotErr, renewErr error
				wg.Go(func() { got, gotErr = tt.request(f.manager) })
				wg.Go(func() { _, renewErr = f.manager.RenewDue(ctx) })
				wg.Wait()
				if gotErr != nil || renewErr != nil {
					t.Fatalf("request: %v; RenewDue: %v", gotErr, renewErr)
				}
				if got == nil || !tt.matches(got) || !f.clock.Now().Before(got.RenewAt) {
					t.Fatalf("got %+v, want a fresh certificate for the request", got)
				}
			}
		})
	}
}
