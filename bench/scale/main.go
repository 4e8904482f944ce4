// Command scale is Weft's scale benchmark (issue #15): a real kube-apiserver
// and etcd, a generated mesh of Services, pods, EndpointSlices and SMI
// policies, the real weftd as a separate process, and a fleet of simulated
// Envoys, each on its own mTLS ADS stream, that validate and ACK what they
// receive. It prints progress on stderr and one summary line on stdout:
//
//	proxies=… services=… rss_mb=… rss_per_proxy_kb=… connect_all_s=… endpoint_p99_ms=… unaffected_pushes=…
//	global_p99_ms=… permissive_1k_p99_ms=… permissive_1k_peak_rss_mb=… config_kb_p50=… config_kb_max=… nacks=…
//
// Run it with `make bench-scale` (PROXIES=, SERVICES= change the size);
// BENCHMARKS.md says what each figure measures.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

// config is one run's size and settings.
type config struct {
	proxies, services, pods, namespaces, reach int
	// permissiveProxies is how many proxies stay for the permissive phase.
	permissiveProxies int
	churn, globals    int
	delta             bool
	// pin puts weftd on one core and everything else on another.
	pin       bool
	weftd     string
	weftdArgs stringList
	workers   int
	keep      bool
	timeout   time.Duration
}

type stringList []string

func (l *stringList) String() string     { return fmt.Sprint(*l) }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var c config
	flag.IntVar(&c.proxies, "proxies", 5000, "simulated Envoys, each its own mTLS ADS stream")
	flag.IntVar(&c.services, "services", 1000, "Services in the mesh, each with its own service account")
	flag.IntVar(&c.pods, "pods", 0, "pods, spread evenly over the Services (0: 5 per Service)")
	flag.IntVar(&c.namespaces, "namespaces", 0, "namespaces the Services are spread over (0: one per 100 Services)")
	flag.IntVar(&c.reach, "reach", 10, "Services each identity may reach through TrafficTargets")
	flag.IntVar(&c.permissiveProxies, "permissive-proxies", 1000, "proxies kept connected when permissive mode is switched on")
	flag.IntVar(&c.churn, "churn", 20, "single-Service EndpointSlice edits in the endpoint phase")
	flag.IntVar(&c.globals, "globals", 4, "MeshConfig edits every listener must follow in the global phase")
	flag.BoolVar(&c.delta, "delta", false, "incremental (delta) ADS instead of state-of-the-world")
	flag.BoolVar(&c.pin, "pin", true, "with taskset and 2 or more cores: weftd on cpu 0, the fleet, harness, kube-apiserver and etcd on cpu 1")
	flag.StringVar(&c.weftd, "weftd", "", "weftd binary (empty: go build ./cmd/weftd)")
	flag.Var(&c.weftdArgs, "weftd-arg", "an extra weftd flag (repeatable)")
	flag.IntVar(&c.workers, "workers", 32, "concurrent API writers while creating the mesh")
	flag.BoolVar(&c.keep, "keep", false, "keep the run's folder (weftd's log, kubeconfig)")
	flag.DurationVar(&c.timeout, "timeout", 10*time.Minute, "the longest any one wait may take")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := run(ctx, c, os.Stderr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
	fmt.Println(s)
}

// progress prints one timestamped line.
func progress(w io.Writer, format string, args ...any) {
	fmt.Fprintf(w, "%s "+format+"\n", append([]any{time.Now().UTC().Format("15:04:05.000")}, args...)...)
}
