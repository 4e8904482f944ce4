package meshrun

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Call is one call a bookapp caller made, as it printed it.
type Call struct {
	At time.Time
	OK bool
	// Server answered an OK UnaryCall ("-" for EmptyCall).
	Server string
	// Code and Message are a failed call's gRPC status.
	Code, Message string
}

// ParseCall reads a caller's line: "<ms> ok <server>" or
// "<ms> error <code> <message>".
func ParseCall(line string) (Call, error) {
	f := strings.SplitN(line, " ", 4)
	if len(f) < 3 {
		return Call{}, fmt.Errorf("not a call: %q", line)
	}
	ms, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return Call{}, fmt.Errorf("not a call: %q", line)
	}
	c := Call{At: time.UnixMilli(ms)}
	switch f[1] {
	case "ok":
		c.OK, c.Server = true, f[2]
	case "error":
		c.Code = f[2]
		if len(f) == 4 {
			c.Message = f[3]
		}
	default:
		return Call{}, fmt.Errorf("not a call: %q", line)
	}
	return c, nil
}

// NextCall reads the caller's next call.
func (p *Process) NextCall(ctx context.Context) (Call, error) {
	l, err := p.Next(ctx)
	if err != nil {
		return Call{}, err
	}
	return ParseCall(l)
}

// Calls reads the caller's next n calls.
func (p *Process) Calls(ctx context.Context, n int) (Calls, error) {
	var out Calls
	for len(out) < n {
		c, err := p.NextCall(ctx)
		if err != nil {
			return out, err
		}
		out = append(out, c)
	}
	return out, nil
}

// Calls are a caller's calls in order.
type Calls []Call

// Outcomes counts the calls by outcome: the server's name for an OK call,
// the gRPC code for a failed one.
func (cs Calls) Outcomes() map[string]int {
	out := map[string]int{}
	for _, c := range cs {
		if c.OK {
			out[c.Server]++
		} else {
			out[c.Code]++
		}
	}
	return out
}

// String lists the outcomes, most frequent first: "bookstore-v1=52 bookstore-v2=48".
func (cs Calls) String() string {
	o := cs.Outcomes()
	keys := make([]string, 0, len(o))
	for k := range o {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if o[keys[i]] != o[keys[j]] {
			return o[keys[i]] > o[keys[j]]
		}
		return keys[i] < keys[j]
	})
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%d", k, o[k])
	}
	return b.String()
}

// Failures are the calls that did not return OK.
func (cs Calls) Failures() Calls {
	var out Calls
	for _, c := range cs {
		if !c.OK {
			out = append(out, c)
		}
	}
	return out
}

// WaitFor reads calls until want holds for n consecutive calls, and returns
// when the first of them was made and the calls read before it.
func (p *Process) WaitFor(ctx context.Context, n int, want func(Call) bool) (time.Time, Calls, error) {
	var before, run Calls
	for len(run) < n {
		c, err := p.NextCall(ctx)
		if err != nil {
			return time.Time{}, append(before, run...), err
		}
		if want(c) {
			run = append(run, c)
			continue
		}
		before = append(before, run...)
		before = append(before, c)
		run = nil
	}
	return run[0].At, before, nil
}
