package k8s

import (
	"context"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

func TestCoalescer(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	for _, tc := range []struct {
		name    string
		changes []int // ms
		wantDue int   // ms; -1: nothing pending
	}{
		{"no change, nothing due", nil, -1},
		{"one change is due a quiet window later", []int{0}, 100},
		{"each change inside the window pushes it back", []int{0, 50, 120}, 220},
		{"a steady stream is cut at the maximum delay", []int{0, 90, 180, 270, 360, 450, 540}, 500},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &Coalescer{Quiet: 100 * time.Millisecond, MaxDelay: 500 * time.Millisecond}
			for _, ms := range tc.changes {
				c.Changed(at(ms))
			}
			due, ok := c.Due()
			if tc.wantDue < 0 {
				if ok {
					t.Fatalf("due at %v, want nothing", due.Sub(t0))
				}
				return
			}
			if !ok || !due.Equal(at(tc.wantDue)) {
				t.Fatalf("due at %v (%v), want %dms", due.Sub(t0), ok, tc.wantDue)
			}
			if c.Fire(at(tc.wantDue - 1)) {
				t.Fatal("fired before it was due")
			}
			if !c.Fire(at(tc.wantDue)) {
				t.Fatal("did not fire when due")
			}
			if _, ok := c.Due(); ok || c.Fire(at(tc.wantDue+1000)) {
				t.Fatal("fired twice for one burst")
			}
		})
	}
}

func TestRunCoalescedAnnouncesAfterTheQuietWindow(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	changes := make(chan struct{}) // unbuffered: a send returns once the loop has it
	announced := make(chan time.Time, 10)
	done := make(chan struct{})
	go func() {
		runCoalesced(ctx, clk, &Coalescer{Quiet: 100 * time.Millisecond, MaxDelay: time.Second}, changes,
			func() { announced <- clk.Now() })
		close(done)
	}()
	for burst := range 2 {
		start := clk.Now()
		changes <- struct{}{}
		for !clk.HasWaiters() { // the loop has armed its only timer
			time.Sleep(time.Millisecond)
		}
		clk.Step(99 * time.Millisecond)
		select {
		case at := <-announced:
			t.Fatalf("burst %d announced at %v, inside the quiet window", burst, at.Sub(start))
		case <-time.After(20 * time.Millisecond):
		}
		clk.Step(time.Millisecond)
		if at := <-announced; at.Sub(start) != 100*time.Millisecond {
			t.Fatalf("burst %d announced at %v, want 100ms", burst, at.Sub(start))
		}
	}
	cancel()
	<-done
	if len(announced) != 0 {
		t.Fatal("announced twice")
	}
}
