package e2e

import (
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/meshrun"
)

// grpcRoute is a GRPCRoute on the bookstore Service sending bookbuyer's
// UnaryCalls to v1 and v2 by weight.
func grpcRoute(v1, v2 int) []byte {
	return fmt.Appendf(nil, `apiVersion: gateway.networking.k8s.io/v1
kind: GRPCRoute
metadata: {name: bookstore-split, namespace: bookstore}
spec:
  parentRefs: [{group: "", kind: Service, name: bookstore, port: 14001}]
  rules:
    - matches: [{method: {service: grpc.testing.TestService, method: UnaryCall}}]
      backendRefs:
        - {name: bookstore-v1, port: 14001, weight: %d}
        - {name: bookstore-v2, port: 14001, weight: %d}
`, v1, v2)
}

// TestGRPCRouteSplitsRealCalls: a GAMMA GRPCRoute weighted 80/20 splits a
// real grpc-go xDS client's calls 80/20, served by the weftd binary on files.
//
// grpc-go picks each call's cluster at random by weight, so the count sent to
// v1 out of n is Binomial(n, 0.8): for n = 2000 its standard deviation is
// sqrt(2000·0.8·0.2) ≈ 17.9 calls, and the test allows five of them (±89
// around 1600), which a correct split exceeds about once in 1.7 million runs
// (two-sided normal tail at 5σ), while a 50/50 or 70/30 split (1000, 1400)
// falls far outside.
func TestGRPCRouteSplitsRealCalls(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	story := startBookstore(t, ctx)
	m := story.Mesh
	buyer, err := m.Caller(ctx, "bookbuyer", "bookbuyer", meshrun.BookstoreTarget, "unary", 400)
	if err != nil {
		t.Fatal(err)
	}
	defer buyer.Stop()
	wait := func(n int, want func(meshrun.Call) bool, what string) {
		t.Helper()
		wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		if _, before, err := buyer.WaitFor(wctx, n, want); err != nil {
			t.Fatalf("waiting for %s: %v (calls before: %s)", what, err, before)
		}
	}
	wait(50, func(c meshrun.Call) bool { return c.OK }, "bookbuyer's calls to succeed (permissive mode)")

	// First all to v2: both versions back the Service, so only a route in
	// force sends 200 calls in a row to one of them.
	if _, err := m.Apply("grpcroute.yaml", grpcRoute(0, 100)); err != nil {
		t.Fatal(err)
	}
	wait(200, func(c meshrun.Call) bool { return c.Server == "bookstore-v2" }, "the GRPCRoute's 0/100 to take effect")

	if _, err := m.Apply("grpcroute.yaml", grpcRoute(80, 20)); err != nil {
		t.Fatal(err)
	}
	wait(1, func(c meshrun.Call) bool { return c.Server == "bookstore-v1" }, "the GRPCRoute's 80/20 to take effect")
	// A call made as the route first names a cluster may fail in grpc-go
	// ("unknown cluster selected"); a second lets the switch settle.
	if err := drain(ctx, buyer, time.Second); err != nil {
		t.Fatal(err)
	}
	const n, p = 2000, 0.8
	calls, err := buyer.Calls(ctx, n)
	if err != nil {
		t.Fatal(err)
	}
	if f := calls.Failures(); len(f) > 0 {
		t.Fatalf("%d calls failed: %s", len(f), f)
	}
	mean, sd := n*p, math.Sqrt(n*p*(1-p))
	v1 := calls.Outcomes()["bookstore-v1"]
	if math.Abs(float64(v1)-mean) > 5*sd {
		t.Fatalf("80/20: %d of %d calls went to v1 (%s), want %.0f±%.0f", v1, n, calls, mean, 5*sd)
	}
	t.Logf("80/20 GRPCRoute: %d of %d calls to bookstore-v1 (%s), within %.0f±%.0f (5σ of Binomial(%d, %.1f))",
		v1, n, calls, mean, 5*sd, n, p)
}

// drain reads and discards a caller's calls for d.
func drain(ctx context.Context, p *meshrun.Process, d time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		if _, err := p.NextCall(ctx); err != nil {
			if ctx.Err() != nil {
				return nil // d is over (or the test's time; the next read says)
			}
			return err
		}
	}
}
