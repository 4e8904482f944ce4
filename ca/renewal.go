package ca

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"math"
	"runtime"
	"time"

	"golang.org/x/sync/errgroup"
)

// RenewalTime is when a certificate is replaced: once RenewWhenRemaining of
// its lifetime is left, moved earlier by up to Jitter of the lifetime. The
// jitter comes from the serial number, so it is stable for a certificate and
// spread across certificates issued at the same moment. The lifetime counts
// from issue, taken as NotBefore plus the signer's Backdate: counted from the
// backdated NotBefore, a short certificate would be due when issued.
func (m *Manager) RenewalTime(leaf *x509.Certificate) time.Time {
	var backdate time.Duration
	if b, ok := m.signer.(Backdater); ok {
		backdate = b.Backdate()
	}
	return m.renewalTime(leaf, leaf.NotBefore.Add(backdate))
}

// renewalTime is RenewalTime for a leaf issued at issued. A leaf that ends
// before it counts its lifetime from NotBefore.
func (m *Manager) renewalTime(leaf *x509.Certificate, issued time.Time) time.Time {
	if !issued.Before(leaf.NotAfter) {
		issued = leaf.NotBefore
	}
	lifetime := leaf.NotAfter.Sub(issued)
	sum := sha256.Sum256(leaf.SerialNumber.Bytes())
	share := float64(binary.BigEndian.Uint64(sum[:8])) / math.MaxUint64 // [0, 1]
	early := m.renewWhenRemaining + m.jitter*share
	return leaf.NotAfter.Add(-time.Duration(early * float64(lifetime)))
}

// RenewDue replaces every cached certificate whose renewal time has come (or
// that a new signing root or new settings made due), announces each renewal
// to subscribers, and returns how many it renewed. It first picks up root
// changes from the signer. A certificate that fails to renew keeps being
// served until it expires and is tried again on the next call; the errors are
// joined.
func (m *Manager) RenewDue(ctx context.Context) (int, error) {
	m.refreshRoots()
	now := m.clock.Now()
	m.mu.RLock()
	var due []string
	for key, e := range m.certs {
		if !now.Before(e.renewAt) {
			due = append(due, key)
		}
	}
	m.mu.RUnlock()

	var g errgroup.Group
	g.SetLimit(runtime.GOMAXPROCS(0))
	renewed := make([]bool, len(due))
	errs := make([]error, len(due))
	for i, key := range due {
		g.Go(func() error {
			renewed[i], errs[i] = m.renew(ctx, key)
			return nil
		})
	}
	_ = g.Wait()
	n := 0
	for _, ok := range renewed {
		if ok {
			n++
		}
	}
	return n, errors.Join(errs...)
}

// renew replaces the certificate at key if it is still cached and due.
func (m *Manager) renew(ctx context.Context, key string) (bool, error) {
	v, err, _ := m.flight.Do(key, func() (any, error) {
		m.mu.RLock()
		old := m.certs[key]
		m.mu.RUnlock()
		if old == nil {
			return flightResult{}, nil
		}
		if m.clock.Now().Before(old.renewAt) {
			return flightResult{cert: old.cert}, nil
		}
		var c *Certificate
		var err error
		switch old.cert.Kind {
		case KindProxy:
			c, err = m.issueProxy(ctx, old.cert.Proxy)
		default:
			c, err = m.issueService(ctx, old.cert.Identity)
		}
		if err != nil {
			m.log.Error("renewing a certificate failed", "certificate", key, "notAfter", old.cert.NotAfter, "error", err)
			return flightResult{}, err
		}
		return flightResult{cert: c, renewed: m.store(key, old, c)}, nil
	})
	return v.(flightResult).renewed, err
}

// Run renews certificates until ctx ends: it calls RenewDue when the soonest
// renewal is due, and at least every CheckInterval to follow root changes.
// Waiting uses the injected clock, so tests step a fake clock instead of
// sleeping.
func (m *Manager) Run(ctx context.Context) error {
	for {
		if _, err := m.RenewDue(ctx); err != nil && ctx.Err() == nil {
			m.log.Error("certificate renewal", "error", err)
		}
		wait := m.checkInterval
		if next, ok := m.nextRenewal(); ok {
			wait = min(wait, max(next.Sub(m.clock.Now()), time.Second))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-m.clock.After(wait):
		}
	}
}

func (m *Manager) nextRenewal() (time.Time, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var next time.Time
	for _, e := range m.certs {
		if next.IsZero() || e.renewAt.Before(next) {
			next = e.renewAt
		}
	}
	return next, len(m.certs) > 0
}

// TrackExpiry includes a certificate the Manager does not cache (such as the
// ingress gateway's, kept in a Secret) in the soonest-expiry metric, under
// name. Track a new NotAfter under the same name to replace it.
func (m *Manager) TrackExpiry(name string, notAfter time.Time) {
	m.mu.Lock()
	m.tracked[name] = notAfter
	m.mu.Unlock()
}

// UntrackExpiry stops tracking name.
func (m *Manager) UntrackExpiry(name string) {
	m.mu.Lock()
	delete(m.tracked, name)
	m.mu.Unlock()
}

// SoonestExpiry returns the earliest NotAfter among cached and tracked
// certificates, and false when there is none.
func (m *Manager) SoonestExpiry() (time.Time, bool) {
	m.mu.RLock()
	defer m.mu.RUnlock()
	var soonest time.Time
	for _, e := range m.certs {
		if soonest.IsZero() || e.cert.NotAfter.Before(soonest) {
			soonest = e.cert.NotAfter
		}
	}
	for _, t := range m.tracked {
		if soonest.IsZero() || t.Before(soonest) {
			soonest = t
		}
	}
	return soonest, !soonest.IsZero()
}

func (m *Manager) secondsUntilSoonestExpiry() float64 {
	t, ok := m.SoonestExpiry()
	if !ok {
		return math.Inf(1)
	}
	return t.Sub(m.clock.Now()).Seconds()
}
