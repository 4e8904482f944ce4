package main

import (
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/repo"
)

// TestSmoke runs the whole benchmark at 20 proxies and 10 services, over
// state-of-the-world and delta ADS. It builds weftd (or takes
// $WEFT_SCALE_WEFTD) and starts two API servers, about a minute on a busy
// machine, so it runs only with WEFT_SCALE_SMOKE=1, as `make
// bench-scale-smoke` sets, and `make test` skips it.
func TestSmoke(t *testing.T) {
	if os.Getenv("WEFT_SCALE_SMOKE") == "" {
		t.Skip("set WEFT_SCALE_SMOKE=1 (make bench-scale-smoke) to run the scale benchmark at a tiny size")
	}
	weftd := os.Getenv("WEFT_SCALE_WEFTD")
	if weftd == "" {
		root, err := repo.Root()
		if err != nil {
			t.Fatal(err)
		}
		if weftd, err = buildWeftd(context.Background(), root, t.TempDir()); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct {
		name  string
		delta bool
	}{
		{name: "state of the world", delta: false},
		{name: "delta", delta: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config{proxies: 20, services: 10, reach: 10, permissiveProxies: 1000, churn: 3, globals: 2,
				delta: tc.delta, workers: 8, timeout: time.Minute, weftd: weftd}
			s, err := run(context.Background(), c, testWriter{t})
			if err != nil {
				t.Fatal(err)
			}
			line := s.String()
			t.Log(line)
			got, err := parseSummary(line)
			if err != nil {
				t.Fatal(err)
			}
			if got["nacks"] != 0 {
				t.Errorf("nacks = %v, want 0", got["nacks"])
			}
			for _, k := range []string{"rss_mb", "connect_all_s", "endpoint_p99_ms", "global_p99_ms", "permissive_1k_p99_ms", "permissive_1k_peak_rss_mb", "config_kb_p50"} {
				if got[k] <= 0 {
					t.Errorf("%s = %v, want a measurement", k, got[k])
				}
			}
			if got["proxies"] != 20 || got["services"] != 10 {
				t.Errorf("size %v proxies, %v services; want 20, 10", got["proxies"], got["services"])
			}
		})
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(b), "\n"))
	return len(b), nil
}

func TestSummaryLineReadsBack(t *testing.T) {
	s := summary{proxies: 5000, services: 1000, rssMB: 812.4, rssPerProxyKB: 120.25, connectAllS: 41.234, endpointP99MS: 250,
		unaffectedPushes: 3, globalP99MS: 4000, permissiveP99MS: 20000, permissivePeakMB: 2400, configKBP50: 85.04, configKBMax: 90, nacks: 0}
	want := "proxies=5000 services=1000 rss_mb=812 rss_per_proxy_kb=120.2 connect_all_s=41.23 endpoint_p99_ms=250 unaffected_pushes=3 " +
		"global_p99_ms=4000 permissive_1k_p99_ms=20000 permissive_1k_peak_rss_mb=2400 config_kb_p50=85.0 config_kb_max=90.0 nacks=0"
	if got := s.String(); got != want {
		t.Fatalf("summary\n got %s\nwant %s", got, want)
	}
	got, err := parseSummary(want)
	if err != nil {
		t.Fatal(err)
	}
	if got["connect_all_s"] != 41.23 || got["nacks"] != 0 || len(got) != len(summaryKeys) {
		t.Errorf("parsed %v", got)
	}
	for _, bad := range []string{"", "proxies=1", strings.Replace(want, "nacks=0", "nacks=x", 1), strings.Replace(want, "rss_mb", "rss", 1)} {
		if _, err := parseSummary(bad); err == nil {
			t.Errorf("parseSummary(%q) took it", bad)
		}
	}
}

func TestEachIdentityReachesWhatItsTrafficTargetsAllow(t *testing.T) {
	sh := shape{services: 30, pods: 150, namespaces: 3, reach: 10}
	allowed := map[[2]int]bool{}
	for j := range sh.services {
		for _, src := range sh.trafficTarget(j).Spec.Sources {
			for i := range sh.services {
				if sh.sa(i) == src.Name && sh.ns(i) == src.Namespace {
					allowed[[2]int{i, j}] = true
				}
			}
		}
	}
	for i := range sh.services {
		n := 0
		for j := range sh.services {
			if sh.reaches(i, j) != allowed[[2]int{i, j}] {
				t.Errorf("identity %d, service %d: reaches says %v, the TrafficTargets %v", i, j, sh.reaches(i, j), allowed[[2]int{i, j}])
			}
			if sh.reaches(i, j) {
				n++
			}
		}
		if n != sh.reach {
			t.Errorf("identity %d reaches %d services, want %d", i, n, sh.reach)
		}
	}
}

func TestPercentileIsNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    int
		want time.Duration
	}{{50, 100 * time.Millisecond}, {99, 198 * time.Millisecond}, {100, 200 * time.Millisecond}} {
		if got := pct(d, tc.p); got != tc.want {
			t.Errorf("p%d = %v, want %v", tc.p, got, tc.want)
		}
	}
	if pct([]time.Duration{7}, 99) != 7 || pct(nil, 50) != 0 {
		t.Error("short inputs")
	}
}
