package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/yaml"

	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/identity"
)

// xdsOSMMetrics are OSM's names the xDS server exports (pkg/xds); a query
// without data names them when weftd does not export them.
var xdsOSMMetrics = []string{
	"osm_proxy_connect_count", "osm_proxy_reconnect_count", "osm_proxy_response_send_success_count",
	"osm_proxy_response_send_error_count", "osm_proxy_config_update_time", "osm_proxy_xds_request_count",
	"osm_proxy_max_connections_rejected",
}

// TestDashboardQueriesHaveData scrapes weftd and two sidecars' statistics
// with a real Prometheus, relabelled by the scrape configuration in
// docs/observability.md, and runs every query of every panel of the chart's
// Grafana dashboards, each of which must return data.
//
// weftd runs against a real API server (its webhooks and informers need one;
// files mode has neither): a Pod goes through the injector, the example
// policies through the validator, and a proxy connects over ADS and NACKs
// once. There is no Envoy binary here: each sidecar's /stats/prometheus is a
// recorded exposition (testdata/envoy-*.prom, Envoy's names and labels)
// served from a local HTTP server, its counters growing on each scrape.
func TestDashboardQueriesHaveData(t *testing.T) {
	prometheus := prometheusBinary(t)
	env := testenv.Start(t, testenv.WithWebhooks(testenv.ValidatingWebhooks, testenv.MutatingWebhooks))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env.ApplyFiles(t, "examples/osm-system-namespace.yaml")

	o := clusterOptions(t, env.KubeconfigPath)
	o.webhookPort, o.webhookCertDir = env.Webhook.LocalServingPort, env.Webhook.LocalServingCertDir
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("weftd: %v", err)
		}
	})
	testenv.Eventually(t, "weftd serves its webhooks", func() bool {
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.webhookPort)), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe only
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
	for _, f := range []string{"examples/meshconfig.yaml", "examples/bookstore", "examples/policies"} {
		env.ApplyFiles(t, f)
	}

	// A pod of a meshed namespace goes through the injector.
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "bookstore", Name: "bookstore-v1-5d8f7c9b6-x2x4k", Labels: map[string]string{"app": "bookstore", "version": "v1"}},
		Spec: corev1.PodSpec{ServiceAccountName: "bookstore", Containers: []corev1.Container{{
			Name: "bookstore", Image: "example.com/bookstore:v1", Ports: []corev1.ContainerPort{{ContainerPort: 14001}},
		}}},
	}
	if err := env.Client.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == "envoy" }) {
		t.Fatal("the pod was not injected")
	}

	connectAndNACK(ctx, t, env.Client, o)
	metricsURL := "http://" + o.healthAddr + "/metrics"
	testenv.Eventually(t, "weftd's /metrics counts the NACK and the injection", func() bool {
		body := get(t, metricsURL)
		return strings.Contains(body, "weft_xds_nacks_total{") &&
			strings.Contains(body, `osm_admission_webhook_response_total{kind="Pod",success="true"}`)
	})

	bookbuyer := serveEnvoyStats(t, "testdata/envoy-bookbuyer.prom")
	bookstore := serveEnvoyStats(t, "testdata/envoy-bookstore.prom")
	targets := map[string][]staticTarget{
		"weft-control-plane": {{o.healthAddr, map[string]string{
			"__meta_kubernetes_namespace":                           "osm-system",
			"__meta_kubernetes_pod_name":                            "weftd-6c7f9d8b7-abcde",
			"__meta_kubernetes_pod_label_app_kubernetes_io_name":    "weftd",
			"__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
			"__meta_kubernetes_pod_annotation_prometheus_io_port":   port(t, o.healthAddr),
		}}},
		"weft-sidecars": {
			sidecarTarget(t, bookbuyer, "bookbuyer", "bookbuyer", "bookbuyer-7d9c8b5f6", "bookbuyer-7d9c8b5f6-q8w2z"),
			sidecarTarget(t, bookstore, "bookstore", "bookstore", "bookstore-v1-5d8f7c9b6", "bookstore-v1-5d8f7c9b6-x2x4k"),
		},
	}
	api := startPrometheus(t, prometheus, scrapeConfig(t, targets))
	waitForTargets(t, api, 3)
	// Every rate() over the substituted $__rate_interval (10s) needs two
	// samples of each series; scrapes are every second.
	time.Sleep(3 * time.Second)

	t.Run("the relabelling gives the sidecars' series OSM's source labels", func(t *testing.T) {
		body, err := httpGet(api + "/api/v1/query?query=" + url.QueryEscape("envoy_server_live"))
		if err != nil {
			t.Fatal(err)
		}
		var resp struct {
			Data struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := json.Unmarshal([]byte(body), &resp); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, r := range resp.Data.Result {
			m := r.Metric
			got = append(got, fmt.Sprintf("%s/%s %s %s/%s", m["source_namespace"], m["source_pod_name"], m["source_service"], m["source_workload_kind"], m["source_workload_name"]))
		}
		slices.Sort(got)
		want := []string{
			"bookbuyer/bookbuyer-7d9c8b5f6-q8w2z bookbuyer Deployment/bookbuyer",
			"bookstore/bookstore-v1-5d8f7c9b6-x2x4k bookstore Deployment/bookstore-v1",
		}
		if !slices.Equal(got, want) {
			t.Errorf("envoy_server_live's source labels:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
		}
	})

	for _, file := range []string{"weft-control-plane.json", "weft-data-plane.json"} {
		path := filepath.Join("..", "..", "manifests", "charts", "weft", "dashboards", file)
		vars := resolveVariables(t, api, file, path)
		for _, q := range dashboardQueries(t, path) {
			expr := substituteGrafanaVariables(q.expr, vars)
			n, err := queryResults(api, expr)
			if err != nil {
				t.Errorf("dashboard %s, panel %q: %s: %v", file, q.panel, q.expr, err)
				continue
			}
			if n == 0 {
				t.Errorf("dashboard %s, panel %q: no data for %s%s", file, q.panel, q.expr, missingSeries(api, expr))
			}
		}
	}
}

// connectAndNACK connects a bookstore proxy with a certificate from the mesh
// root weftd keeps: it NACKs the clusters once, as Envoy does a
// configuration it cannot apply, and ACKs the listeners. The stream stays
// open until the test ends.
func connectAndNACK(ctx context.Context, t *testing.T, c client.Client, o options) {
	t.Helper()
	var secret corev1.Secret
	testenv.Eventually(t, "weftd creates the mesh root Secret", func() bool {
		return c.Get(ctx, client.ObjectKey{Namespace: "osm-system", Name: "osm-ca-bundle"}, &secret) == nil
	})
	manager, proxy, pair := proxyFromRoot(t, secret.Data[internalca.KeyCert], secret.Data[internalca.KeyKey], secret.Data[internalca.KeyBundle],
		identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"})
	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(o.xdsPort), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair}, RootCAs: manager.BundlePool(), ServerName: "weftd.osm-system.svc", MinVersion: tls.VersionTLS12,
	})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	node := &core.Node{Id: proxy.CommonName(identity.DefaultTrustDomain)}

	var (
		stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
		resp   *discovery.DiscoveryResponse
	)
	// A stream that got no answer is closed and another tried: weftd refuses
	// proxies until its first model is built.
	testenv.Eventually(t, "weftd answers the proxy's cluster request", func() bool {
		streamCtx, cancel := context.WithCancel(ctx)
		s, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(streamCtx)
		if err == nil {
			err = s.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType})
		}
		if err == nil {
			resp, err = recvWithin(s, 2*time.Second)
		}
		if err != nil {
			cancel()
			return false
		}
		t.Cleanup(cancel)
		stream = s
		return true
	})
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType, ResponseNonce: resp.GetNonce(),
		ErrorDetail: &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: "dashboard test: cluster rejected"}}); err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ListenerType}); err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := recvWithin(stream, 10*time.Second)
		if err != nil {
			t.Fatalf("waiting for the listeners: %v", err)
		}
		if resp.GetTypeUrl() == resource.ListenerType {
			if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ListenerType,
				VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

func recvWithin(s discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient, d time.Duration) (*discovery.DiscoveryResponse, error) {
	type result struct {
		resp *discovery.DiscoveryResponse
		err  error
	}
	ch := make(chan result, 1)
	go func() { r, err := s.Recv(); ch <- result{r, err} }()
	select {
	case r := <-ch:
		return r.resp, r.err
	case <-time.After(d):
		return nil, fmt.Errorf("no response within %s", d)
	}
}

// serveEnvoyStats stands in for an Envoy sidecar's /stats/prometheus: it
// serves the recorded exposition in file with every counter and histogram
// grown by a tenth of its value per scrape, so rates are not all zero.
func serveEnvoyStats(t *testing.T, file string) *httptest.Server {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var scrapes atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/stats/prometheus" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_, _ = w.Write(growCounters(data, 1+float64(scrapes.Add(1))/10))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// growCounters multiplies the values of the counters and histograms in an
// exposition by f; gauges stay.
func growCounters(exposition []byte, f float64) []byte {
	var out bytes.Buffer
	grows := false
	for line := range strings.Lines(string(exposition)) {
		line = strings.TrimSuffix(line, "\n")
		if typ, ok := strings.CutPrefix(line, "# TYPE "); ok {
			grows = strings.HasSuffix(typ, " counter") || strings.HasSuffix(typ, " histogram")
		} else if i := strings.LastIndexByte(line, ' '); grows && i > 0 {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				line = line[:i+1] + strconv.FormatFloat(float64(int64(v*f)), 'f', -1, 64)
			}
		}
		out.WriteString(line + "\n")
	}
	return out.Bytes()
}

type staticTarget struct {
	addr   string
	labels map[string]string
}

// sidecarTarget is the target Kubernetes discovery would find for an
// injected pod of a Deployment's ReplicaSet: its namespace, name, app label,
// controller and the injector's scrape annotations.
func sidecarTarget(t *testing.T, srv *httptest.Server, namespace, app, replicaSet, pod string) staticTarget {
	addr := strings.TrimPrefix(srv.URL, "http://")
	return staticTarget{addr, map[string]string{
		"__meta_kubernetes_namespace":                           namespace,
		"__meta_kubernetes_pod_name":                            pod,
		"__meta_kubernetes_pod_label_app":                       app,
		"__meta_kubernetes_pod_controller_kind":                 "ReplicaSet",
		"__meta_kubernetes_pod_controller_name":                 replicaSet,
		"__meta_kubernetes_pod_annotation_prometheus_io_scrape": "true",
		"__meta_kubernetes_pod_annotation_prometheus_io_path":   "/stats/prometheus",
		"__meta_kubernetes_pod_annotation_prometheus_io_port":   port(t, addr),
	}}
}

func port(t *testing.T, addr string) string {
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// scrapeConfig is the scrape configuration of docs/observability.md with
// each job's Kubernetes discovery replaced by its static targets.
func scrapeConfig(t *testing.T, targets map[string][]staticTarget) []byte {
	t.Helper()
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "observability.md"))
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```yaml\n(scrape_configs:.*?)```").FindSubmatch(doc)
	if block == nil {
		t.Fatal("docs/observability.md has no ```yaml block starting with scrape_configs:")
	}
	var cfg struct {
		ScrapeConfigs []map[string]any `json:"scrape_configs"`
	}
	if err := yaml.Unmarshal(block[1], &cfg); err != nil {
		t.Fatalf("docs/observability.md's scrape configuration: %v", err)
	}
	for _, job := range cfg.ScrapeConfigs {
		name, _ := job["job_name"].(string)
		ts, ok := targets[name]
		if !ok {
			t.Fatalf("the test has no targets for the job %q of docs/observability.md", name)
		}
		delete(job, "kubernetes_sd_configs")
		var static []map[string]any
		for _, target := range ts {
			static = append(static, map[string]any{"targets": []string{target.addr}, "labels": target.labels})
		}
		job["static_configs"] = static
		delete(targets, name)
	}
	if len(targets) > 0 {
		t.Fatalf("docs/observability.md has no job for the targets %v", targets)
	}
	out, err := yaml.Marshal(map[string]any{
		"global":         map[string]any{"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
		"scrape_configs": cfg.ScrapeConfigs,
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// prometheusBinary finds Debian's prometheus, installing it with
// hack/test-deps.sh when it is missing and the test runs as root.
func prometheusBinary(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("prometheus"); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Skip("prometheus is not installed and the test is not root to install it: run `make test-deps` as root (or apt-get install --no-install-recommends prometheus)")
	}
	install := exec.Command(filepath.Join("..", "..", "hack", "test-deps.sh"))
	if out, err := install.CombinedOutput(); err != nil {
		t.Fatalf("hack/test-deps.sh: %v\n%s", err, out)
	}
	p, err := exec.LookPath("prometheus")
	if err != nil {
		t.Fatalf("prometheus is still missing after hack/test-deps.sh: %v", err)
	}
	return p
}

// startPrometheus runs prometheus on a loopback port with config, its data in
// a temporary folder, until the test ends, and returns its base URL.
func startPrometheus(t *testing.T, binary string, config []byte) string {
	t.Helper()
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, config, 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePorts(t, "127.0.0.1", 1)[0])
	var logs bytes.Buffer
	cmd := exec.Command(binary, "--config.file="+cfgPath, "--storage.tsdb.path="+filepath.Join(dir, "data"),
		"--web.listen-address="+addr, "--log.level=warn")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("prometheus configuration:\n%s\nprometheus output:\n%s", config, logs.String())
		}
	})
	base := "http://" + addr
	testenv.Eventually(t, "prometheus is ready", func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("prometheus exited: %v\n%s", err, logs.String())
		default:
		}
		_, err := httpGet(base + "/-/ready")
		return err == nil
	})
	return base
}

// waitForTargets waits until Prometheus has scraped n targets successfully.
func waitForTargets(t *testing.T, api string, n int) {
	t.Helper()
	var last string
	deadline := time.Now().Add(30 * time.Second)
	for {
		body, err := httpGet(api + "/api/v1/targets?state=active")
		var resp struct {
			Data struct {
				ActiveTargets []struct {
					ScrapePool string `json:"scrapePool"`
					ScrapeURL  string `json:"scrapeUrl"`
					Health     string `json:"health"`
					LastError  string `json:"lastError"`
				} `json:"activeTargets"`
			} `json:"data"`
		}
		if err == nil {
			err = json.Unmarshal([]byte(body), &resp)
		}
		up := 0
		var states []string
		for _, target := range resp.Data.ActiveTargets {
			if target.Health == "up" {
				up++
			}
			states = append(states, fmt.Sprintf("%s %s: %s %s", target.ScrapePool, target.ScrapeURL, target.Health, target.LastError))
		}
		last = fmt.Sprintf("%v; %s", err, strings.Join(states, "; "))
		if up == n && len(resp.Data.ActiveTargets) == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("prometheus' targets are not all up: %s", last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

type dashboardQuery struct{ panel, expr string }

// dashboardQueries reads every target's expr of every panel of a Grafana
// dashboard, rows included, failing on a panel that has none.
func dashboardQueries(t *testing.T, file string) []dashboardQuery {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	type panel struct {
		Title   string            `json:"title"`
		Type    string            `json:"type"`
		Panels  []json.RawMessage `json:"panels"`
		Targets []struct {
			Expr string `json:"expr"`
		} `json:"targets"`
	}
	var d struct {
		Panels []json.RawMessage `json:"panels"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	var qs []dashboardQuery
	var walk func([]json.RawMessage)
	walk = func(raw []json.RawMessage) {
		for _, r := range raw {
			var p panel
			if err := json.Unmarshal(r, &p); err != nil {
				t.Fatalf("%s: %v", file, err)
			}
			if p.Type == "row" {
				walk(p.Panels)
				continue
			}
			before := len(qs)
			for _, target := range p.Targets {
				if target.Expr != "" {
					qs = append(qs, dashboardQuery{p.Title, target.Expr})
				}
			}
			if len(qs) == before {
				t.Errorf("%s: panel %q has no query", file, p.Title)
			}
		}
	}
	walk(d.Panels)
	return qs
}

var (
	grafanaVariable = regexp.MustCompile(`\$\{?(\w+)\}?`)
	labelValues     = regexp.MustCompile(`^label_values\((?:(.*),\s*)?(\w+)\)$`)
)

// resolveVariables finds each query variable's values as Grafana would
// (label_values(selector, label)), in order, so that the relabelled labels
// the dashboards select on must exist; a variable with no values fails the
// test and stands for every value (.*, its allValue) in the queries.
func resolveVariables(t *testing.T, api, file, path string) map[string]string {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Templating struct {
			List []struct {
				Name       string `json:"name"`
				Type       string `json:"type"`
				Definition string `json:"definition"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(data, &d); err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		vars[v.Name] = ".*"
		m := labelValues.FindStringSubmatch(v.Definition)
		if m == nil {
			t.Errorf("dashboard %s, variable %s: %q is not label_values(selector, label)", file, v.Name, v.Definition)
			continue
		}
		query := api + "/api/v1/label/" + m[2] + "/values"
		if m[1] != "" {
			query += "?match[]=" + url.QueryEscape(substituteGrafanaVariables(m[1], vars))
		}
		body, err := httpGet(query)
		var resp struct {
			Data []string `json:"data"`
		}
		if err == nil {
			err = json.Unmarshal([]byte(body), &resp)
		}
		if err != nil || len(resp.Data) == 0 {
			msg := fmt.Sprintf("dashboard %s, variable %s: %s has no values (%v)", file, v.Name, v.Definition, err)
			if pending := pendingXDS(m[1]); pending != "" {
				msg += ": " + pending
			}
			t.Error(msg)
			continue
		}
		quoted := make([]string, len(resp.Data))
		for i, value := range resp.Data {
			// A PromQL string holding a regular expression: backslashes doubled.
			quoted[i] = strings.ReplaceAll(regexp.QuoteMeta(value), `\`, `\\`)
		}
		vars[v.Name] = "(" + strings.Join(quoted, "|") + ")"
	}
	return vars
}

// substituteGrafanaVariables replaces Grafana's interval variables with
// values that suit a 1s scrape interval, and the dashboards' own variables
// with the values vars gives them (every value, as "All" selects).
func substituteGrafanaVariables(expr string, vars map[string]string) string {
	return grafanaVariable.ReplaceAllStringFunc(expr, func(v string) string {
		name := strings.Trim(v, "${}")
		switch name {
		case "__rate_interval":
			return "10s"
		case "__interval":
			return "2s"
		case "__range":
			return "1m"
		}
		if value, ok := vars[name]; ok {
			return value
		}
		return v
	})
}

// queryResults runs an instant query and returns how many series it gave.
func queryResults(api, expr string) (int, error) {
	body, err := httpGet(api + "/api/v1/query?query=" + url.QueryEscape(expr))
	if err != nil {
		return 0, err
	}
	var resp struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			Result []json.RawMessage `json:"result"`
		} `json:"data"`
	}
	if err := json.Unmarshal([]byte(body), &resp); err != nil {
		return 0, err
	}
	if resp.Status != "success" {
		return 0, errors.New(resp.Error)
	}
	return len(resp.Data.Result), nil
}

var metricName = regexp.MustCompile(`\b(?:weft|osm|envoy|go|process)_[a-z0-9_]+\b`)

// missingSeries names the metrics of expr that Prometheus holds no series
// of, and those among them that pkg/xds has yet to export.
func missingSeries(api, expr string) string {
	var missing, pending []string
	for _, name := range slices.Compact(slices.Sorted(slices.Values(metricName.FindAllString(expr, -1)))) {
		if n, err := queryResults(api, fmt.Sprintf(`count({__name__=%q})`, name)); err != nil || n > 0 {
			continue
		}
		missing = append(missing, name)
		if p := pendingXDS(name); p != "" {
			pending = append(pending, p)
		}
	}
	if len(missing) == 0 {
		return " (every metric it reads has series: its labels or arithmetic select none)"
	}
	s := fmt.Sprintf(" (no series of %s)", strings.Join(missing, ", "))
	if len(pending) > 0 {
		s += ": " + strings.Join(pending, "; ")
	}
	return s
}

// pendingXDS says so when the text names an OSM metric of pkg/xds (a
// histogram's series included).
func pendingXDS(text string) string {
	for _, name := range metricName.FindAllString(text, -1) {
		for _, base := range []string{name, strings.TrimSuffix(name, "_bucket"), strings.TrimSuffix(name, "_count"), strings.TrimSuffix(name, "_sum")} {
			if slices.Contains(xdsOSMMetrics, base) {
				return fmt.Sprintf("pkg/xds does not export %s yet", base)
			}
		}
	}
	return ""
}
