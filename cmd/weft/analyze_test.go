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
	status := `{"proxies": [
  {"id": "a1", "pod": "bookstore/bookstore-v1-0", "identity": "bookstore/bookstore",
   "nacks": [{"typeUrl": "type.googleapis.com/envoy.config.listener.v3.Listener", "error": "duplicate listener"}],
   "certificateNotAfter": "2026-12-01T14:00:00Z"},
  {"id": "b2", "pod": "bookbuyer/bookbuyer-0", "certificateNotAfter": "2026-12-01T11:00:00Z"},
  {"id": "c3", "certificateNotAfter": "2026-12-09T00:00:00Z", "unknown": true}
]}`
	fs, err := runtimeFindings([]byte(status), now)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, f := range fs {
		got = append(got, f.Object.String()+" "+f.Severity+" "+f.Reason)
	}
	want := []string{
		"Pod bookstore/bookstore-v1-0 error the proxy refused (NACK) type.googleapis.com/envoy.config.listener.v3.Listener: duplicate listener",
		"Pod bookstore/bookstore-v1-0 warning its certificate expires at 2026-12-01T14:00:00Z, in 2h0m0s",
		"Pod bookbuyer/bookbuyer-0 error its certificate expired at 2026-12-01T11:00:00Z",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if _, err := runtimeFindings([]byte("<html>"), now); err == nil {
		t.Error("a status that is not JSON gives no error")
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
		"weftd's runtime status: not read: service osm-system/weftd port 9091 /debug/proxy-status",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("the output lacks %q:\n%s", want, out)
		}
	}
}
