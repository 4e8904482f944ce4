package xds_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/xds"
)

// statusOf returns the status of the connected proxy with id, failing when it
// is not connected.
func statusOf(t *testing.T, m *mesh, id string) xds.ProxyStatus {
	t.Helper()
	for _, s := range m.server.ProxyStatuses() {
		if s.ID == id {
			return s
		}
	}
	t.Fatalf("proxy %s is not in ProxyStatuses", id)
	return xds.ProxyStatus{}
}

func TestProxyStatusStateOfTheWorld(t *testing.T) {
	m := newMesh(t)
	p := m.connect("bookstore", "bookstore")
	s := p.sotw()
	connectedAt := m.clock.Now()

	var cds *discovery.DiscoveryResponse
	t.Run("a response not yet answered is sent but not acknowledged", func(t *testing.T) {
		p.request(s, resource.ClusterType, nil, nil, "")
		cds = recv(t, s)
		got := statusOf(t, m, p.proxy.ID)
		if got.Identity != p.proxy.Identity || got.Kind != ca.ProxySidecar || !got.ConnectedSince.Equal(connectedAt) {
			t.Errorf("status = %+v, want bookstore's sidecar connected at %s", got, connectedAt)
		}
		if c := got.Types["CDS"]; c.Sent != cds.GetVersionInfo() || c.Acked != "" || c.SentAt.IsZero() {
			t.Errorf("CDS = %+v, want version %s sent and nothing acknowledged", c, cds.GetVersionInfo())
		}
		if _, ok := got.Types["LDS"]; ok {
			t.Error("LDS has a status, but was never sent")
		}
	})

	t.Run("an ACK makes the sent version the acknowledged one", func(t *testing.T) {
		p.request(s, resource.ClusterType, nil, cds, "")
		p.request(s, resource.ListenerType, nil, nil, "")
		lds := recv(t, s)
		p.request(s, resource.ListenerType, nil, lds, "")
		waitFor(t, func() bool {
			got := statusOf(t, m, p.proxy.ID).Types
			return got["CDS"].Acked == cds.GetVersionInfo() && got["LDS"].Acked == lds.GetVersionInfo()
		})
		if c := statusOf(t, m, p.proxy.ID).Types["CDS"]; c.Sent != c.Acked || c.AckedAt.IsZero() || c.Nack != nil {
			t.Errorf("CDS = %+v, want in sync", c)
		}
	})

	t.Run("a NACK records the rejected version and the proxy's message, and keeps the acknowledged one", func(t *testing.T) {
		m.generation.Add(1)
		m.server.Push(context.Background(), func(ca.Proxy) bool { return true })
		first, second := recv(t, s), recv(t, s)
		bad := first
		if bad.GetTypeUrl() != resource.ClusterType {
			bad, second = second, first
		}
		p.request(s, second.GetTypeUrl(), nil, second, "")
		p.request(s, resource.ClusterType, nil, &discovery.DiscoveryResponse{VersionInfo: cds.GetVersionInfo(), Nonce: bad.GetNonce()}, "cluster bookstore: bad timeout")
		waitFor(t, func() bool { return statusOf(t, m, p.proxy.ID).Types["CDS"].Nack != nil })
		c := statusOf(t, m, p.proxy.ID).Types["CDS"]
		if c.Nack.Version != bad.GetVersionInfo() || c.Nack.Message != "cluster bookstore: bad timeout" || c.Nack.At.IsZero() {
			t.Errorf("NACK = %+v, want version %s and the proxy's message", c.Nack, bad.GetVersionInfo())
		}
		if c.Sent != bad.GetVersionInfo() || c.Acked != cds.GetVersionInfo() {
			t.Errorf("CDS = %+v, want %s sent and %s still acknowledged", c, bad.GetVersionInfo(), cds.GetVersionInfo())
		}
	})

	t.Run("a newer version clears the NACK", func(t *testing.T) {
		m.generation.Add(1)
		m.server.Push(context.Background(), func(ca.Proxy) bool { return true })
		for range 2 {
			r := recv(t, s)
			p.request(s, r.GetTypeUrl(), nil, r, "")
		}
		waitFor(t, func() bool {
			c := statusOf(t, m, p.proxy.ID).Types["CDS"]
			return c.Nack == nil && c.Sent == c.Acked
		})
	})

	t.Run("a proxy is forgotten with its last stream", func(t *testing.T) {
		if err := s.stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return len(m.server.ProxyStatuses()) == 0 })
	})
}

func TestProxyStatusDelta(t *testing.T) {
	m := newMesh(t)
	p := m.connect("bookstore", "bookstore")
	d := p.delta()
	d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ListenerType})
	lds, err := d.recv()
	if err != nil {
		t.Fatal(err)
	}
	version, ok := m.server.CachedVersion(p.nodeID, resource.ListenerType)
	if !ok {
		t.Fatal("no snapshot")
	}

	t.Run("a delta ACK acknowledges the snapshot's version of the type", func(t *testing.T) {
		d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ListenerType, ResponseNonce: lds.GetNonce()})
		waitFor(t, func() bool { return statusOf(t, m, p.proxy.ID).Types["LDS"].Acked == version })
		if l := statusOf(t, m, p.proxy.ID).Types["LDS"]; l.Sent != version {
			t.Errorf("LDS = %+v, want %s sent and acknowledged", l, version)
		}
	})

	t.Run("a delta NACK is recorded with its message", func(t *testing.T) {
		m.generation.Add(1)
		m.server.Push(context.Background(), func(ca.Proxy) bool { return true })
		var bad *discovery.DeltaDiscoveryResponse
		for bad == nil {
			r, err := d.recv()
			if err != nil {
				t.Fatal(err)
			}
			if r.GetTypeUrl() == resource.ListenerType {
				bad = r
			}
		}
		d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ListenerType, ResponseNonce: bad.GetNonce(),
			ErrorDetail: &status.Status{Code: int32(codes.InvalidArgument), Message: "listener rejected"}})
		waitFor(t, func() bool { return statusOf(t, m, p.proxy.ID).Types["LDS"].Nack != nil })
		l := statusOf(t, m, p.proxy.ID).Types["LDS"]
		if l.Nack.Message != "listener rejected" || l.Nack.Version != l.Sent || l.Sent == version || l.Acked != version {
			t.Errorf("LDS = %+v (NACK %+v), want the new version NACKed and %s still acknowledged", l, l.Nack, version)
		}
	})
}

func TestOSMProxyMetrics(t *testing.T) {
	m := newMesh(t)
	p := m.connect("bookstore", "bookstore")
	s := p.sotw()
	p.request(s, resource.ClusterType, nil, nil, "")
	cds := recv(t, s)
	p.request(s, resource.ClusterType, nil, cds, "")
	series := map[string]string{"proxy_uuid": p.proxy.ID, "identity": "bookstore.bookstore.cluster.local", "type": resource.ClusterType}

	t.Run("a connected proxy's stream produces OSM's series, with OSM's types and labels", func(t *testing.T) {
		waitFor(t, func() bool { return counterValue(t, m, "osm_proxy_xds_request_count", series) == 2 })
		labels := fmt.Sprintf(`identity="bookstore.bookstore.cluster.local",proxy_uuid=%q,type=%q`, p.proxy.ID, resource.ClusterType)
		want := `# HELP osm_proxy_connect_count Proxies with an open xDS stream (OSM's name).
# TYPE osm_proxy_connect_count gauge
osm_proxy_connect_count 1
# HELP osm_proxy_response_send_success_count xDS responses sent to connected proxies (OSM's name).
# TYPE osm_proxy_response_send_success_count counter
osm_proxy_response_send_success_count{` + labels + `} 1
# HELP osm_proxy_xds_request_count xDS requests of connected proxies (OSM's name).
# TYPE osm_proxy_xds_request_count counter
osm_proxy_xds_request_count{` + labels + `} 2
`
		if err := testutil.GatherAndCompare(m.registry, strings.NewReader(want),
			"osm_proxy_connect_count", "osm_proxy_response_send_success_count", "osm_proxy_xds_request_count"); err != nil {
			t.Error(err)
		}
		if n := histogramCount(t, m, "osm_proxy_config_update_time", map[string]string{"resource_type": resource.ClusterType, "success": "true"}); n < 1 {
			t.Errorf("osm_proxy_config_update_time{resource_type=CDS,success=true} observed %d times, want at least 1", n)
		}
	})

	t.Run("a stream that comes back with a version counts as a reconnect", func(t *testing.T) {
		again := p.sotw()
		p.request(again, resource.ClusterType, nil, &discovery.DiscoveryResponse{VersionInfo: cds.GetVersionInfo()}, "")
		waitFor(t, func() bool { return metricSum(t, m.registry, "osm_proxy_reconnect_count") == 1 })
		if err := again.stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("a proxy over MeshConfig's cap is counted as rejected", func(t *testing.T) {
		m.server.SetMaxDataPlaneConnections(1)
		other := m.connect("bookbuyer", "bookbuyer")
		o := other.sotw()
		other.request(o, resource.ClusterType, nil, nil, "")
		if _, err := recvErr(o); err == nil || !strings.Contains(err.Error(), "at most 1 proxies") {
			t.Fatalf("error = %v, want the cap's refusal", err)
		}
		want := `# HELP osm_proxy_max_connections_rejected Proxies refused for MeshConfig sidecar.maxDataPlaneConnections (OSM's name).
# TYPE osm_proxy_max_connections_rejected counter
osm_proxy_max_connections_rejected 1
`
		if err := testutil.GatherAndCompare(m.registry, strings.NewReader(want), "osm_proxy_max_connections_rejected"); err != nil {
			t.Error(err)
		}
	})

	t.Run("a disconnected proxy's series are deleted", func(t *testing.T) {
		if err := s.stream.CloseSend(); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool { return metricSum(t, m.registry, "osm_proxy_connect_count") == 0 })
		for _, name := range []string{"osm_proxy_xds_request_count", "osm_proxy_response_send_success_count"} {
			if n := seriesOf(t, m, name); n != 0 {
				t.Errorf("%s has %d series, want none", name, n)
			}
		}
	})
}

// counterValue adds up the samples of a counter whose labels include labels.
func counterValue(t *testing.T, m *mesh, name string, labels map[string]string) float64 {
	t.Helper()
	var sum float64
	eachSample(t, m, name, labels, func(counter float64, _ uint64) { sum += counter })
	return sum
}

// eachSample calls f with the counter value and histogram count of each
// sample of name whose labels include labels.
func eachSample(t *testing.T, m *mesh, name string, labels map[string]string, f func(counter float64, histogram uint64)) {
	t.Helper()
	families, err := m.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, mt := range fam.GetMetric() {
			match := 0
			for _, l := range mt.GetLabel() {
				if v, ok := labels[l.GetName()]; ok && v == l.GetValue() {
					match++
				}
			}
			if match == len(labels) {
				f(mt.GetCounter().GetValue(), mt.GetHistogram().GetSampleCount())
			}
		}
	}
}

func seriesOf(t *testing.T, m *mesh, name string) int {
	t.Helper()
	n, err := testutil.GatherAndCount(m.registry, name)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func histogramCount(t *testing.T, m *mesh, name string, labels map[string]string) uint64 {
	t.Helper()
	var n uint64
	eachSample(t, m, name, labels, func(_ float64, count uint64) { n += count })
	return n
}
