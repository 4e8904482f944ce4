package main

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/weft-mesh/weft/ca"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// settle is how long a phase waits after a change for pushes that were not
// awaited: longer than weftd's default coalescing delay (1 s).
const settle = 1500 * time.Millisecond

// ready waits until weftd serves the whole mesh: a probe proxy of identity 0
// holds a complete configuration reaching every Service its policies allow.
// weftd's RSS then is the baseline without proxies.
func (b *bench) ready(ctx context.Context, manager *ca.Manager) error {
	probe, err := issue(ctx, manager, b.sh, 0)
	if err != nil {
		return err
	}
	g := newGoal("", func(p *proxy) bool { return p.complete() && p.reached() >= b.c.reach })
	b.f.goal.Store(g)
	start := time.Now()
	b.f.start(ctx, probe)
	_, err = b.wait(ctx, g, []*proxy{probe}, start, "the probe proxy's configuration (weftd's first model)")
	probe.stop()
	if err != nil {
		return err
	}
	time.Sleep(settle)
	if b.baselineRSS, err = procStatus(b.w.pid(), "VmRSS"); err != nil {
		return err
	}
	progress(b.out, "weftd serves the mesh %.1fs after the probe connected; rss %.0f MB without proxies", time.Since(start).Seconds(), b.baselineRSS)
	return nil
}

// connectStorm connects every proxy at once and times until the last holds
// a complete configuration: clusters, listeners, and every endpoint
// assignment, route configuration and secret they reference.
func (b *bench) connectStorm(ctx context.Context) error {
	g := newGoal("", (*proxy).complete)
	b.f.goal.Store(g)
	cpu0, _ := cpuSeconds(b.w.pid())
	start := time.Now()
	for _, p := range b.f.proxies {
		b.f.start(ctx, p)
	}
	lat, err := b.wait(ctx, g, b.f.proxies, start, "every proxy's complete configuration")
	if err != nil {
		return err
	}
	cpu1, _ := cpuSeconds(b.w.pid())
	b.s.connectAllS = lat[len(lat)-1].Seconds()
	progress(b.out, "connect storm (%s): all %d proxies complete in %.2fs (p50 %.2fs); weftd used %.1f CPU s",
		b.mode(), len(lat), b.s.connectAllS, pct(lat, 50).Seconds(), cpu1-cpu0)

	var sizes []int
	for _, p := range b.f.proxies {
		sizes = append(sizes, p.configBytes())
	}
	slices.Sort(sizes)
	b.s.configKBP50 = float64(sizes[(len(sizes)-1)/2]) / 1024
	b.s.configKBMax = float64(sizes[len(sizes)-1]) / 1024
	progress(b.out, "config per proxy (serialized resources held): p50 %.1f KB, max %.1f KB", b.s.configKBP50, b.s.configKBMax)
	return nil
}

// steadyState reads weftd's RSS and CPU with every proxy connected and
// nothing changing.
func (b *bench) steadyState(context.Context) error {
	time.Sleep(settle)
	rss, err := procStatus(b.w.pid(), "VmRSS")
	if err != nil {
		return err
	}
	cpu0, _ := cpuSeconds(b.w.pid())
	const idle = 5 * time.Second
	time.Sleep(idle)
	cpu1, _ := cpuSeconds(b.w.pid())
	b.s.rssMB = rss
	b.s.rssPerProxyKB = (rss - b.baselineRSS) * 1024 / float64(len(b.f.proxies))
	progress(b.out, "steady state: weftd rss %.0f MB (%.0f MB before the fleet: %.1f KB a proxy), cpu %.1f%% of a core over %s idle",
		rss, b.baselineRSS, b.s.rssPerProxyKB, (cpu1-cpu0)/idle.Seconds()*100, idle)
	return nil
}

// endpointChurn edits one Service's EndpointSlice at a time and times from
// the API write until every proxy that reaches the Service holds the new
// address; pushes to the other proxies meanwhile are counted.
func (b *bench) endpointChurn(ctx context.Context) error {
	n := len(b.f.proxies)
	var all []time.Duration
	for i := range b.c.churn {
		// A Service some connected proxy reaches.
		from := (i * 7919) % n % b.c.services
		svc := (from + 1 + i%b.c.reach) % b.c.services
		var affected, others []*proxy
		for _, p := range b.f.proxies {
			if b.sh.reaches(p.index%b.c.services, svc) {
				affected = append(affected, p)
			} else {
				others = append(others, p)
			}
		}
		before := responses(others)
		marker := markerIP(i)
		g := newGoal(marker, func(p *proxy) bool { return p.markerSeen && p.complete() })
		b.f.goal.Store(g)
		start := time.Now()
		if err := b.sh.setEndpoint(ctx, b.cl.client, svc, marker); err != nil {
			return err
		}
		lat, err := b.wait(ctx, g, affected, start, fmt.Sprintf("%s's new endpoint %s", b.sh.svc(svc), marker))
		if err != nil {
			return err
		}
		all = append(all, lat...)
		time.Sleep(settle)
		b.s.unaffectedPushes += responses(others) - before
	}
	slices.Sort(all)
	b.s.endpointP99MS = ms(pct(all, 99))
	progress(b.out, "endpoint churn: %d edits, %d proxy updates: p50 %.0f ms, p99 %.0f ms, max %.0f ms; %d pushes to proxies that do not reach the Service",
		b.c.churn, len(all), ms(pct(all, 50)), b.s.endpointP99MS, ms(pct(all, 100)), b.s.unaffectedPushes)
	return nil
}

// globalChange switches tracing on and off in the MeshConfig: it adds or
// removes the tracing config of every HTTP connection manager, so every
// proxy needs new listeners.
func (b *bench) globalChange(ctx context.Context) error {
	var all []time.Duration
	for i := range b.c.globals {
		on := i%2 == 0
		g := b.newListenerGoal()
		start := time.Now()
		if err := editMeshConfig(ctx, b.cl.client, func(s *configv1alpha2.MeshConfigSpec) { s.Observability.Tracing.Enable = on }); err != nil {
			return err
		}
		lat, err := b.wait(ctx, g, b.f.proxies, start, fmt.Sprintf("every proxy's listeners with tracing %v", on))
		if err != nil {
			return err
		}
		progress(b.out, "global change %d (tracing %v): to all %d proxies in %.0f ms", i+1, on, len(lat), ms(lat[len(lat)-1]))
		all = append(all, lat...)
		time.Sleep(settle)
	}
	slices.Sort(all)
	b.s.globalP99MS = ms(pct(all, 99))
	progress(b.out, "global change: %d edits, p50 %.0f ms, p99 %.0f ms over every proxy", b.c.globals, ms(pct(all, 50)), b.s.globalP99MS)
	return nil
}

// newListenerGoal waits for each proxy's next listeners.
func (b *bench) newListenerGoal() *goal {
	seen := make(map[*proxy]int64, len(b.f.proxies))
	for _, p := range b.f.proxies {
		p.mu.Lock()
		seen[p] = p.ldsReceived
		p.mu.Unlock()
	}
	g := newGoal("", func(p *proxy) bool { return p.ldsReceived > seen[p] && p.complete() })
	b.f.goal.Store(g)
	return g
}

// permissive keeps the first permissiveProxies proxies connected, switches
// permissive mode on, and times until each holds every Service, sampling
// weftd's RSS meanwhile and counting the fleet's CPU.
func (b *bench) permissive(ctx context.Context) error {
	keep := b.f.proxies[:b.c.permissiveProxies]
	for _, p := range b.f.proxies[len(keep):] {
		p.stop()
	}
	b.f.proxies = keep
	if err := b.until(ctx, fmt.Sprintf("weftd counts %d connected proxies", len(keep)), func() bool {
		n, err := b.w.connectedProxies()
		return err == nil && n == len(keep)
	}); err != nil {
		return err
	}
	time.Sleep(settle)
	pid := b.w.pid()
	reset := resetPeakRSS(pid) == nil
	peak := make(chan float64)
	stop := make(chan struct{})
	go func() {
		var m float64
		for {
			if v, err := procStatus(pid, "VmRSS"); err == nil {
				m = max(m, v)
			}
			select {
			case <-stop:
				peak <- m
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	fleet0, _ := cpuSeconds(0)
	weftd0, _ := cpuSeconds(pid)
	want := b.c.services - 1
	g := newGoal("", func(p *proxy) bool { return p.reached() >= want && p.complete() })
	b.f.goal.Store(g)
	start := time.Now()
	err := editMeshConfig(ctx, b.cl.client, func(s *configv1alpha2.MeshConfigSpec) { s.Traffic.EnablePermissiveTrafficPolicyMode = true })
	var lat []time.Duration
	if err == nil {
		lat, err = b.wait(ctx, g, keep, start, "every proxy's permissive configuration")
	}
	close(stop)
	sampled := <-peak
	if err != nil {
		return err
	}
	fleet1, _ := cpuSeconds(0)
	weftd1, _ := cpuSeconds(pid)
	b.s.permissiveP99MS = ms(pct(lat, 99))
	b.s.permissivePeakMB = sampled
	if hwm, err := procStatus(pid, "VmHWM"); reset && err == nil {
		b.s.permissivePeakMB = max(sampled, hwm)
	}
	var sizes []int
	for _, p := range keep {
		sizes = append(sizes, p.configBytes())
	}
	slices.Sort(sizes)
	progress(b.out, "permissive mode at %d proxies: p50 %.0f ms, p99 %.0f ms, all %.0f ms; weftd peak rss %.0f MB (VmHWM reset: %v), weftd %.1f CPU s, fleet %.1f CPU s; config p50 %.0f KB",
		len(keep), ms(pct(lat, 50)), b.s.permissiveP99MS, ms(lat[len(lat)-1]), b.s.permissivePeakMB, reset, weftd1-weftd0, fleet1-fleet0,
		float64(sizes[(len(sizes)-1)/2])/1024)
	return nil
}

// wait returns, sorted, how long after start each of proxies met g.
func (b *bench) wait(ctx context.Context, g *goal, proxies []*proxy, start time.Time, what string) ([]time.Duration, error) {
	lat := make([]time.Duration, 0, len(proxies))
	pending := slices.Clone(proxies)
	deadline := time.Now().Add(b.c.timeout)
	for {
		rest := pending[:0]
		for _, p := range pending {
			if at := p.metGoal(g); !at.IsZero() {
				lat = append(lat, at.Sub(start))
			} else {
				rest = append(rest, p)
			}
		}
		pending = rest
		if len(pending) == 0 {
			slices.Sort(lat)
			return lat, nil
		}
		if err := b.w.alive(); err != nil {
			return nil, err
		}
		if time.Now().After(deadline) {
			first := ""
			if e := b.f.firstErr.Load(); e != nil {
				first = ", the first: " + *e
			}
			return nil, fmt.Errorf("waiting for %s: %d of %d proxies still waiting after %s (nacks %d, streams reopened %d%s)",
				what, len(pending), len(proxies), b.c.timeout, b.f.nacks.Load(), b.f.reconnects.Load(), first)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(10 * time.Millisecond):
		}
	}
}

func (b *bench) until(ctx context.Context, what string, cond func() bool) error {
	deadline := time.Now().Add(b.c.timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out waiting: %s", what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

func (b *bench) mode() string {
	if b.c.delta {
		return "delta ADS"
	}
	return "state-of-the-world ADS"
}

func responses(ps []*proxy) int64 {
	var n int64
	for _, p := range ps {
		n += p.responses.Load()
	}
	return n
}

// pct is the nearest-rank percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[max(0, min(i, len(sorted))-1)]
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
