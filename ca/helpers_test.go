package ca_test

import (
	"bytes"
	"crypto/x509"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/pkg/identity"
)

// start is a fixed instant, so test output does not depend on the day.
var start = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

type fixture struct {
	clock     *testingclock.FakeClock
	authority *internalca.Authority
	manager   *ca.Manager
	registry  *prometheus.Registry
}

// newFixture returns a Manager on a fresh internal root with a fake clock.
func newFixture(t testing.TB, opts ca.Options) *fixture {
	t.Helper()
	clk := testingclock.NewFakeClock(start)
	roots, err := internalca.NewRoot("test root", internalca.DefaultRootValidity, start)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: clk, authority: internalca.New(roots, clk), registry: prometheus.NewRegistry()}
	opts.Signer, opts.Clock, opts.Registerer = f.authority, clk, f.registry
	if opts.TrustDomain == "" {
		opts.TrustDomain = identity.DefaultTrustDomain
	}
	if f.manager, err = ca.NewManager(opts); err != nil {
		t.Fatal(err)
	}
	return f
}

// verify checks a leaf against a PEM bundle at time now for the given usage,
// the way a peer would.
func verify(t testing.TB, c *ca.Certificate, bundlePEM []byte, now time.Time, usage x509.ExtKeyUsage) error {
	t.Helper()
	chain, err := ca.ParseCertificatesPEM(c.CertChainPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(bundlePEM) {
		t.Fatal("bundle holds no certificate")
	}
	inter := x509.NewCertPool()
	for _, ic := range chain[1:] {
		inter.AddCert(ic)
	}
	_, err = chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func rootsIn(t testing.TB, bundlePEM []byte) int {
	t.Helper()
	n := bytes.Count(bundlePEM, []byte("BEGIN CERTIFICATE"))
	return n
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }
