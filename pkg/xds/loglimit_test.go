package xds

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
	"time"

	testingclock "k8s.io/utils/clock/testing"
)

func TestLogLimiter(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := testingclock.NewFakePassiveClock(start)
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
		if a.Key == slog.TimeKey {
			return slog.Attr{}
		}
		return a
	}}))
	l := newLogLimiter(log, clock, 2, time.Minute)
	at := func(d time.Duration) { clock.SetTime(start.Add(d)) }
	warn := func(key, msg string) { l.Log(slog.LevelWarn, key, msg, "proxy", key) }

	for _, step := range []struct {
		name  string
		at    time.Duration
		lines func()
		want  string
		keys  int
	}{
		{
			name: "the first lines of an interval are logged, the rest suppressed",
			lines: func() {
				for _, msg := range []string{"a1", "a2", "a3", "a4"} {
					warn("a", msg)
				}
			},
			want: "level=WARN msg=a1 proxy=a\nlevel=WARN msg=a2 proxy=a\n",
			keys: 1,
		},
		{
			name:  "a line late in the same interval is suppressed too",
			at:    59*time.Second + 999*time.Millisecond,
			lines: func() { warn("a", "a5") },
			keys:  1,
		},
		{
			name: "the next interval's first line says how many were suppressed; other proxies have their own budget",
			at:   time.Minute,
			lines: func() {
				for _, msg := range []string{"a6", "a7", "a8"} {
					warn("a", msg)
				}
				warn("b", "b1")
			},
			want: "level=WARN msg=a6 proxy=a suppressed=3\nlevel=WARN msg=a7 proxy=a\nlevel=WARN msg=b1 proxy=b\n",
			keys: 2,
		},
		{
			name:  "proxies quiet for an interval are forgotten, their suppressed lines counted in one line",
			at:    3 * time.Minute,
			lines: func() { warn("c", "c1") },
			want:  "level=WARN msg=c1 proxy=c\nlevel=WARN msg=\"log lines suppressed\" about=a suppressed=1\n",
			keys:  1,
		},
		{
			name:  "a forgotten proxy starts afresh",
			at:    3*time.Minute + time.Second,
			lines: func() { warn("a", "a9") },
			want:  "level=WARN msg=a9 proxy=a\n",
			keys:  2,
		},
	} {
		t.Run(step.name, func(t *testing.T) {
			at(step.at)
			out.Reset()
			step.lines()
			if got := out.String(); got != step.want {
				t.Errorf("logged\n%s\nwant\n%s", indent(got), indent(step.want))
			}
			if got := l.keys(); got != step.keys {
				t.Errorf("the limiter remembers %d proxies, want %d", got, step.keys)
			}
		})
	}
}

func indent(s string) string {
	return "\t" + strings.ReplaceAll(strings.TrimSuffix(s, "\n"), "\n", "\n\t")
}
