package xds

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// logLimiter bounds the lines logged about each key (a proxy's node ID), so
// that a proxy that NACKs, or asks for what it may not have, in a loop cannot
// fill the log: at most lines lines in an interval that starts with the
// key's first line. The first line of a later interval carries, as
// "suppressed", how many lines were dropped before it.
//
// Keys quiet for a whole interval are forgotten when the limiter next sweeps
// (at most once an interval, on a call for any key); a forgotten key's unreported
// count is logged then as one "log lines suppressed" line. So the limiter
// holds only keys that logged in the last two intervals, and a proxy that
// reconnects keeps its budget.
type logLimiter struct {
	log      *slog.Logger
	clock    clock.PassiveClock
	lines    int
	interval time.Duration

	mu      sync.Mutex
	windows map[string]*logWindow
	swept   time.Time
}

type logWindow struct {
	start      time.Time
	logged     int
	suppressed int
}

func newLogLimiter(log *slog.Logger, c clock.PassiveClock, lines int, interval time.Duration) *logLimiter {
	return &logLimiter{log: log, clock: c, lines: lines, interval: interval, windows: map[string]*logWindow{}}
}

// Log logs msg with args about key unless key has used its lines for this
// interval.
func (l *logLimiter) Log(level slog.Level, key, msg string, args ...any) {
	now := l.clock.Now()
	l.mu.Lock()
	w := l.windows[key]
	carried := 0
	if w == nil || now.Sub(w.start) >= l.interval {
		if w != nil {
			carried = w.suppressed
		}
		w = &logWindow{start: now}
		l.windows[key] = w
	}
	if w.logged >= l.lines {
		w.suppressed++
		l.mu.Unlock()
		return
	}
	w.logged++
	forgotten := l.sweep(now, key)
	l.mu.Unlock()

	if carried > 0 {
		args = append(args, "suppressed", carried)
	}
	l.log.Log(context.Background(), level, msg, args...)
	for _, f := range forgotten {
		l.log.Warn("log lines suppressed", "about", f.key, "suppressed", f.suppressed)
	}
}

type forgotten struct {
	key        string
	suppressed int
}

// sweep forgets the windows other than key's that ended, once an interval,
// and returns those with suppressed lines. l.mu is held.
func (l *logLimiter) sweep(now time.Time, key string) []forgotten {
	if now.Sub(l.swept) < l.interval {
		return nil
	}
	l.swept = now
	var out []forgotten
	for k, w := range l.windows {
		if k == key || now.Sub(w.start) < l.interval {
			continue
		}
		if w.suppressed > 0 {
			out = append(out, forgotten{k, w.suppressed})
		}
		delete(l.windows, k)
	}
	return out
}

// keys returns how many keys the limiter remembers.
func (l *logLimiter) keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.windows)
}

// maxLogged is the longest value taken from a request (a node ID, a resource
// name, a type URL) that a log line or an error shows; maxDetail is that of a
// NACK's error detail, which Envoy writes and may make long.
const (
	maxLogged = 256
	maxDetail = 1024
)

// cut returns s, cut to max bytes and saying so. A proxy chooses these values,
// and one must not make a log line as long as it likes.
func cut(s string, max int) string {
	if len(s) <= max {
		return s
	}
	return fmt.Sprintf("%s...(%d bytes)", s[:max], len(s))
}
