package main

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/testenv"
)

// TestAnalyzeGolden checks `weft analyze` on files: a set with deliberate
// problems in each output format, a clean one, and the bookstore example.
func TestAnalyzeGolden(t *testing.T) {
	td := func(p string) string { return filepath.Join("testdata", "analyze", p) }
	for _, c := range []struct {
		name string
		args []string
	}{
		{"problems", []string{"-f", td("problems.yaml")}},
		{"problems-json", []string{"-f", td("problems.yaml"), "-o", "json"}},
		{"problems-yaml", []string{"-f", td("problems.yaml"), "-o", "yaml"}},
		{"clean", []string{"-f", td("clean.yaml")}},
		{"bookstore", []string{"-f", filepath.Join("..", "..", "examples")}},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"analyze"}, c.args...)
			out, err := runWeft(args...)
			checkGolden(t, "analyze", c.name, commandLine(args)+withExit(out, err))
		})
	}
	t.Run("an unknown output format is refused", func(t *testing.T) {
		if _, err := runWeft("analyze", "-f", td("clean.yaml"), "-o", "table"); err == nil {
			t.Fatal("no error")
		}
	})
}

func TestRuntimeFindings(t *testing.T) {
	now := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	status := `[
  {"ID": "a1", "PodNamespace": "bookstore", "PodName": "bookstore-v1-0", "Identity": {"Namespace": "bookstore", "ServiceAccount": "bookstore"},
   "types": {"LDS": {"sent": "v2", "acked": "v1", "nack": {"version": "v2", "message": "duplicate listener", "at": "2026-12-01T11:59:00Z"}},
             "CDS": {"sent": "v1", "acked": "v1"}}},
  {"ID": "b2", "Identity": {"Namespace": "bookbuyer", "ServiceAccount": "bookbuyer"},
   "types": {"EDS": {"sent": "v3", "sentAt": "2026-12-01T11:00:00Z", "acked": "v2"},
             "RDS": {"sent": "v3", "sentAt": "2026-12-01T11:59:50Z", "acked": "v2"}}}
]`
	statuses, err := decodeStatus([]byte(status), "weftd-0")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range runtimeFindings(statuses, now) {
		got = append(got, f.Object.String()+" "+f.Severity+" "+f.Reason)
	}
	want := []string{
		"Pod bookstore/bookstore-v1-0 error the proxy rejected (NACK) LDS version v2: duplicate listener",
		"Proxy bookbuyer/b2 warning EDS version v3 sent at 2026-12-01T11:00:00Z is not acknowledged",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestAnalyzeCluster runs `weft analyze` against a real API server: the
// catalog's problems are reported, weftd (not running) is said unreachable.
func TestAnalyzeCluster(t *testing.T) {
	env := testenv.Start(t)
	env.ApplyFiles(t, "examples/osm-system-namespace.yaml", "examples/meshconfig.yaml", "examples/bookstore",
		"cmd/weft/testdata/policy-check/cluster-pods.yaml", "cmd/weft/testdata/analyze/cluster-problems.yaml")
	out, err := runWeft("analyze", "--kubeconfig", env.KubeconfigPath)
	if err == nil || !strings.Contains(err.Error(), "severity error") {
		t.Errorf("analyze exits without an error: %v", err)
	}
	for _, want := range []string{
		"TrafficTarget bookstore/bookthief-access-bookstore\n  error    spec.rules[0].name: HTTPRouteGroup bookstore/stolen-routes does not exist; rule skipped",
		"weftd's runtime status: not read: cannot read the proxies' status from weftd in namespace osm-system",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
}
