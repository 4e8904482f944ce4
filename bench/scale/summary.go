package main

import (
	"fmt"
	"strconv"
	"strings"
)

// summary is the run's one line of figures.
type summary struct {
	proxies, services int
	rssMB             float64
	rssPerProxyKB     float64
	connectAllS       float64
	endpointP99MS     float64
	unaffectedPushes  int64
	globalP99MS       float64
	permissiveP99MS   float64
	permissivePeakMB  float64
	configKBP50       float64
	configKBMax       float64
	nacks             int64
}

// summaryKeys are the summary line's keys, in order.
var summaryKeys = []string{"proxies", "services", "rss_mb", "rss_per_proxy_kb", "connect_all_s", "endpoint_p99_ms", "unaffected_pushes",
	"global_p99_ms", "permissive_1k_p99_ms", "permissive_1k_peak_rss_mb", "config_kb_p50", "config_kb_max", "nacks"}

func (s summary) String() string {
	values := []string{
		strconv.Itoa(s.proxies), strconv.Itoa(s.services),
		f0(s.rssMB), f1(s.rssPerProxyKB), f2(s.connectAllS), f0(s.endpointP99MS), strconv.FormatInt(s.unaffectedPushes, 10),
		f0(s.globalP99MS), f0(s.permissiveP99MS), f0(s.permissivePeakMB), f1(s.configKBP50), f1(s.configKBMax),
		strconv.FormatInt(s.nacks, 10),
	}
	parts := make([]string, len(values))
	for i, v := range values {
		parts[i] = summaryKeys[i] + "=" + v
	}
	return strings.Join(parts, " ")
}

func f0(v float64) string { return strconv.FormatFloat(v, 'f', 0, 64) }
func f1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }
func f2(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }

// parseSummary reads a summary line back: every key, in order, with a number.
func parseSummary(line string) (map[string]float64, error) {
	fields := strings.Fields(line)
	if len(fields) != len(summaryKeys) {
		return nil, fmt.Errorf("%d fields, want %d: %q", len(fields), len(summaryKeys), line)
	}
	out := map[string]float64{}
	for i, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok || k != summaryKeys[i] {
			return nil, fmt.Errorf("field %d is %q, want %s=<n>", i+1, f, summaryKeys[i])
		}
		n, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		out[k] = n
	}
	return out, nil
}
