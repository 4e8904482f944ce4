package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/internal/repo"
)

// normalize fills the defaults that depend on the size.
func (c *config) normalize() error {
	if c.services < 3 || c.proxies < 1 {
		return errors.New("want at least 3 services and 1 proxy")
	}
	if c.pods <= 0 {
		c.pods = 5 * c.services
	}
	if c.namespaces <= 0 {
		c.namespaces = (c.services + 99) / 100
	}
	// Permissive mode must reach more than the policies do, or the phase
	// could not tell it happened.
	c.reach = max(1, min(c.reach, c.services-2))
	c.permissiveProxies = max(1, min(c.permissiveProxies, c.proxies))
	return nil
}

// run is one benchmark: the cluster, weftd, the fleet and the phases.
func run(ctx context.Context, c config, out io.Writer) (summary, error) {
	if err := c.normalize(); err != nil {
		return summary{}, err
	}
	s := summary{proxies: c.proxies, services: c.services}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	root, err := repo.Root()
	if err != nil {
		return s, err
	}
	dir, err := os.MkdirTemp("", "weft-scale-")
	if err != nil {
		return s, err
	}
	if c.keep {
		progress(out, "run folder %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	bin := c.weftd
	if bin == "" {
		start := time.Now()
		if bin, err = buildWeftd(ctx, root, dir); err != nil {
			return s, err
		}
		progress(out, "built weftd in %.1fs", time.Since(start).Seconds())
	}
	weftdCPU := pin(c.pin, out)

	start := time.Now()
	cl, err := startCluster(root, dir)
	if err != nil {
		return s, err
	}
	defer func() { _ = cl.stop() }()
	progress(out, "kube-apiserver and etcd up in %.1fs (service range 10.96.0.0/16)", time.Since(start).Seconds())

	sh := shape{services: c.services, pods: c.pods, namespaces: c.namespaces, reach: c.reach}
	start = time.Now()
	if err := sh.create(ctx, cl.client, defaultMeshConfigFile(root), c.workers); err != nil {
		return s, fmt.Errorf("creating the mesh: %w", err)
	}
	progress(out, "mesh created in %.1fs: %d services, %d pods, %d namespaces, %d TrafficTargets, each identity reaches %d services",
		time.Since(start).Seconds(), c.services, c.pods, c.namespaces, c.services, c.reach)

	w, err := startWeftd(bin, cl.kubeconfig, dir, weftdCPU, c.weftdArgs)
	if err != nil {
		return s, err
	}
	defer w.stop()
	// Ends every proxy's stream before weftd stops, also when a phase fails.
	defer cancel()
	manager, err := rootManager(ctx, cl.client, w)
	if err != nil {
		return s, err
	}
	progress(out, "weftd pid %d serves ADS on %s (log %s)", w.pid(), w.xdsAddr, w.logPath)

	start = time.Now()
	f := &fleet{addr: w.xdsAddr, serverName: "weftd." + meshNamespace + ".svc", roots: manager.BundlePool(), delta: c.delta}
	for i := range c.proxies {
		p, err := issue(ctx, manager, sh, i)
		if err != nil {
			return s, err
		}
		f.proxies = append(f.proxies, p)
	}
	progress(out, "issued %d proxy certificates in %.1fs", c.proxies, time.Since(start).Seconds())

	drops0, dropsErr := backlogDrops()
	b := &bench{c: c, sh: sh, cl: cl, w: w, f: f, out: out, s: &s}
	for _, phase := range []func(context.Context) error{
		func(ctx context.Context) error { return b.ready(ctx, manager) },
		b.connectStorm, b.steadyState, b.endpointChurn, b.globalChange, b.permissive,
	} {
		if err := phase(ctx); err != nil {
			return s, err
		}
		if err := w.alive(); err != nil {
			return s, err
		}
	}
	s.nacks = f.nacks.Load()
	if cpu, err := cpuSeconds(w.pid()); err == nil {
		progress(out, "weftd used %.1f CPU s in all, the fleet and harness %.1f", cpu, must(cpuSeconds(0)))
	}
	if drops1, err := backlogDrops(); err == nil && dropsErr == nil {
		progress(out, "the kernel dropped %d packets at full input backlogs (net.core.netdev_max_backlog) during the phases", drops1-drops0)
	}
	if n := f.reconnects.Load(); n > 0 {
		first := "closed by weftd"
		if e := f.firstErr.Load(); e != nil {
			first = *e
		}
		progress(out, "%d ADS streams ended and were opened again (the probe's tries before weftd's first model count), the first: %s", n, first)
	}
	for _, p := range f.proxies {
		p.stop()
	}
	return s, nil
}

// pin moves this process (the fleet, and the kube-apiserver and etcd it
// starts) to cpu 1 and returns the cpu for weftd, or -1 when not pinning.
func pin(want bool, out io.Writer) int {
	if !want || runtime.NumCPU() < 2 {
		progress(out, "not pinned: weftd, the fleet, kube-apiserver and etcd share the cores")
		return -1
	}
	if _, err := exec.LookPath("taskset"); err != nil {
		progress(out, "not pinned (no taskset): weftd, the fleet, kube-apiserver and etcd share the cores")
		return -1
	}
	if b, err := exec.Command("taskset", "-a", "-p", "-c", "1", strconv.Itoa(os.Getpid())).CombinedOutput(); err != nil {
		progress(out, "not pinned (taskset: %v %s)", err, b)
		return -1
	}
	runtime.GOMAXPROCS(1)
	progress(out, "pinned with taskset: weftd on cpu 0; the fleet, the harness, kube-apiserver and etcd on cpu 1")
	return 0
}

// issue makes proxy i's certificate, as the injector would for its pod:
// proxy i runs as identity i mod services.
func issue(ctx context.Context, manager *ca.Manager, sh shape, i int) (*proxy, error) {
	p := ca.Proxy{ID: uuid.NewString(), Kind: ca.ProxySidecar, Identity: sh.identity(i % sh.services)}
	cert, err := manager.ProxyCertificate(ctx, p)
	if err != nil {
		return nil, err
	}
	return newProxy(i, cert, p, manager.TrustDomain())
}

// bench is a run's state, shared by the phases.
type bench struct {
	c   config
	sh  shape
	cl  *cluster
	w   *weftd
	f   *fleet
	out io.Writer
	s   *summary
	// baselineRSS is weftd's RSS with the mesh loaded and no proxy.
	baselineRSS float64
}

// must drops an error where a figure is only informative.
func must(v float64, _ error) float64 { return v }
