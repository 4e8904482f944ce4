package k8s

import (
	"context"
	"time"

	"k8s.io/utils/clock"
)

// Coalescer decides when a burst of changes is announced: once no change has come
// for Quiet, or MaxDelay after the first change of the burst, whichever is
// first. It holds no clock and no goroutine: callers pass the time, which makes
// it exact to test. The zero Quiet announces at once.
type Coalescer struct {
	Quiet    time.Duration
	MaxDelay time.Duration

	pending     bool
	first, last time.Time
}

// Changed records a change seen at now.
func (c *Coalescer) Changed(now time.Time) {
	if !c.pending {
		c.pending, c.first = true, now
	}
	c.last = now
}

// Due says when the pending burst should be announced, if one is pending.
func (c *Coalescer) Due() (time.Time, bool) {
	if !c.pending {
		return time.Time{}, false
	}
	due := c.last.Add(c.Quiet)
	if c.MaxDelay > 0 {
		if limit := c.first.Add(c.MaxDelay); limit.Before(due) {
			due = limit
		}
	}
	return due, true
}

// Fire reports whether the pending burst is due at now, and if so starts afresh.
func (c *Coalescer) Fire(now time.Time) bool {
	due, ok := c.Due()
	if !ok || now.Before(due) {
		return false
	}
	c.pending = false
	return true
}

// runCoalesced calls announce after each burst of signals on changes, as c
// decides, until ctx ends. announce runs on the caller's goroutine, one call at a
// time; changes arriving meanwhile make the next burst.
func runCoalesced(ctx context.Context, clk clock.Clock, c *Coalescer, changes <-chan struct{}, announce func()) {
	for {
		var fire <-chan time.Time
		var timer clock.Timer
		if due, ok := c.Due(); ok {
			wait := due.Sub(clk.Now())
			if wait <= 0 && c.Fire(clk.Now()) {
				announce()
				continue
			}
			timer = clk.NewTimer(wait)
			fire = timer.C()
		}
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-changes:
			c.Changed(clk.Now())
		case <-fire:
			if c.Fire(clk.Now()) {
				announce()
			}
		}
		if timer != nil {
			timer.Stop()
		}
	}
}

// signal sends on a channel of capacity one without blocking: a pending signal
// already says "something changed".
func signal(ch chan<- struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}
