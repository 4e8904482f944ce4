package xds_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/xds"
)

// logBuffer collects the server's log as text, one record a line.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the lines that contain substr.
func (l *logBuffer) lines(substr string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for line := range strings.Lines(l.b.String()) {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return out
}

func (l *logBuffer) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

// labelValues returns the values of one label across a metric family.
func labelValues(t testing.TB, reg *prometheus.Registry, name, label string) []string {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	return out
}

// metricValue returns the value of the sample of a counter family whose label
// has value.
func metricValue(t testing.TB, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// servedTypes are the type URLs a metric may carry, besides "unknown".
var servedTypes = []string{
	resource.ClusterType, resource.EndpointType, resource.ListenerType, resource.RouteType, resource.ScopedRouteType,
	resource.VirtualHostType, resource.SecretType, resource.RuntimeType, resource.ExtensionConfigType, resource.RateLimitConfigType,
	"unknown",
}

// send sends req and ignores the error: a refused stream is closed, and what
// the test checks is the status it ends with.
func (s *adsStream) send(req *discovery.DiscoveryRequest) { _ = s.stream.Send(req) }

func TestAProxyCannotExhaustTheServer(t *testing.T) {
	m := newMesh(t)
	bookstore := identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}
	p := m.connect("bookstore", "bookstore")
	// Connected now: the subtests move the clock, and the TLS handshake checks
	// certificates against the real time.
	q := m.connect("bookstore", "bookstore")

	t.Run("NACKs of made-up types add no metric label and are refused", func(t *testing.T) {
		const n = 50
		served := 0
		for i := range n {
			s := p.sotw()
			madeUp := fmt.Sprintf("type.googleapis.com/made.up.%d.%s", i, strings.Repeat("x", 1000))
			s.send(&discovery.DiscoveryRequest{Node: &core.Node{Id: p.nodeID}, TypeUrl: madeUp,
				ErrorDetail: &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: "rejected"}})
			// Flushes the NACK: the stream answers this or is closed.
			s.send(&discovery.DiscoveryRequest{Node: &core.Node{Id: p.nodeID}, TypeUrl: resource.ClusterType})
			if _, err := recvErr(s); grpcstatus.Code(err) != codes.InvalidArgument {
				served++
			}
		}
		if served > 0 {
			t.Errorf("%d of %d streams went on after a request for a type the server does not serve, want each refused (InvalidArgument)", served, n)
		}
		for _, name := range []string{"weft_xds_nacks_total", "weft_xds_pushes_total"} {
			for _, v := range labelValues(t, m.registry, name, "type") {
				if !slices.Contains(servedTypes, v) {
					t.Errorf("%s has the label type=%.60q..., want only served types and \"unknown\"", name, v)
					break
				}
			}
		}
		if got := metricValue(t, m.registry, "weft_xds_refused_requests_total", "reason", "unknown_type"); got != n {
			t.Errorf("refused unknown types = %v, want %d", got, n)
		}
		for _, line := range m.logs.lines("made.up") {
			if len(line) > 2000 {
				t.Errorf("a log line of %d bytes carries the made-up type URL: %.200s...", len(line), line)
				break
			}
		}
	})

	t.Run("a NACK flood logs a few lines an interval, then how many it suppressed", func(t *testing.T) {
		s := p.sotw()
		p.request(s, resource.ClusterType, nil, nil, "")
		resp := recv(t, s)
		p.request(s, resource.ClusterType, nil, resp, "")
		m.clock.Step(time.Minute) // the NACKs start an interval
		before := metricValue(t, m.registry, "weft_xds_nacks_total", "type", resource.ClusterType)
		logged := len(m.logs.lines("NACK"))
		detail := strings.Repeat("no such field; ", 1000)
		for range 200 {
			p.request(s, resource.ClusterType, nil, resp, detail)
		}
		waitFor(t, func() bool {
			return metricValue(t, m.registry, "weft_xds_nacks_total", "type", resource.ClusterType) == before+200
		})
		lines := m.logs.lines("NACK")[logged:]
		if len(lines) != 10 {
			t.Errorf("200 NACKs logged %d lines, want 10 (the default LogLines)", len(lines))
		}
		for _, line := range lines {
			if len(line) > 2000 {
				t.Errorf("a NACK's log line is %d bytes, want its detail cut short", len(line))
				break
			}
		}
		m.clock.Step(time.Minute)
		p.request(s, resource.ClusterType, nil, resp, "rejected again")
		waitFor(t, func() bool { return len(m.logs.lines("NACK")) > logged+len(lines) })
		last := m.logs.lines("NACK")[logged+len(lines)]
		if !strings.Contains(last, "suppressed=190") {
			t.Errorf("the first NACK line of the next interval is %q, want suppressed=190", last)
		}
	})

	t.Run("a node ID or a secret name of any length is cut short in the log", func(t *testing.T) {
		long := strings.Repeat("y", 100_000)
		for _, req := range []*discovery.DiscoveryRequest{
			{Node: &core.Node{Id: long}, TypeUrl: resource.ClusterType},
			{Node: &core.Node{Id: p.nodeID}, TypeUrl: resource.SecretType, ResourceNames: []string{serviceCertName(bookstore), long}},
		} {
			m.clock.Step(time.Minute) // a fresh log interval
			before := m.logs.size()
			s := p.sotw()
			s.send(req)
			if _, err := recvErr(s); grpcstatus.Code(err) != codes.PermissionDenied {
				t.Fatalf("error = %v, want PermissionDenied", err)
			}
			waitFor(t, func() bool { return m.logs.size() > before })
			if grown := m.logs.size() - before; grown > 2000 {
				t.Errorf("refusing a request with a 100 kB name logged %d bytes", grown)
			}
		}
	})

	t.Run("a proxy holds at most 8 streams; the next is refused and counted", func(t *testing.T) {
		var open []*adsStream
		for range 8 {
			s := q.sotw()
			q.request(s, resource.ClusterType, nil, nil, "")
			recv(t, s)
			open = append(open, s)
		}
		s := q.sotw()
		q.request(s, resource.ClusterType, nil, nil, "")
		if _, err := recvErr(s); grpcstatus.Code(err) != codes.ResourceExhausted {
			t.Fatalf("the 9th stream got %v, want ResourceExhausted", err)
		}
		if got := metricValue(t, m.registry, "weft_xds_refused_requests_total", "reason", "too_many_streams"); got != 1 {
			t.Errorf("streams refused as too many = %v, want 1", got)
		}
		_ = open[0].stream.CloseSend()
		if _, err := recvErr(open[0]); err == nil {
			t.Fatal("a closed stream went on")
		}
		s = q.sotw()
		q.request(s, resource.ClusterType, nil, nil, "")
		if _, err := recvErr(s); err != nil {
			t.Errorf("after one stream closed a new one got %v, want a response", err)
		}
	})

	t.Run("a request naming more than 20,000 resources is refused", func(t *testing.T) {
		names := make([]string, 20_001)
		for i := range names {
			names[i] = fmt.Sprint("bookstore-", i)
		}
		s := p.sotw()
		p.request(s, resource.EndpointType, names, nil, "")
		if _, err := recvErr(s); grpcstatus.Code(err) != codes.InvalidArgument {
			t.Errorf("error = %v, want InvalidArgument", err)
		}
		if got := metricValue(t, m.registry, "weft_xds_refused_requests_total", "reason", "too_many_names"); got != 1 {
			t.Errorf("requests refused for too many names = %v, want 1", got)
		}
	})
}

func TestGRPCLimits(t *testing.T) {
	m := newMesh(t, func(o *xds.Options) {
		o.MaxStreamsPerProxy = 64
		o.MaxStreamsPerConnection = 4
		o.MaxMessageBytes = 64 << 10
	})
	p := m.connect("bookstore", "bookstore")

	t.Run("a connection carries at most MaxStreamsPerConnection streams at once", func(t *testing.T) {
		var open []*adsStream
		for range 4 {
			s := p.sotw()
			p.request(s, resource.ClusterType, nil, nil, "")
			recv(t, s)
			open = append(open, s)
		}
		// The fifth stream waits for a free slot on the connection.
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		served := make(chan error, 1)
		go func() {
			s, err := discovery.NewAggregatedDiscoveryServiceClient(p.conn).StreamAggregatedResources(ctx)
			if err == nil {
				err = s.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: p.nodeID}, TypeUrl: resource.ClusterType})
			}
			if err == nil {
				_, err = s.Recv()
			}
			served <- err
		}()
		select {
		case err := <-served:
			t.Fatalf("a fifth stream was served while four were open (error %v)", err)
		case <-time.After(300 * time.Millisecond):
		}
		_ = open[0].stream.CloseSend()
		if _, err := recvErr(open[0]); err == nil {
			t.Fatal("a closed stream went on")
		}
		select {
		case err := <-served:
			if err != nil {
				t.Errorf("the fifth stream got %v once a slot was free", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the fifth stream was not served once a slot was free")
		}
	})

	t.Run("a request larger than MaxMessageBytes is refused", func(t *testing.T) {
		s := p.sotw()
		p.request(s, resource.EndpointType, []string{strings.Repeat("z", 100<<10)}, nil, "")
		if _, err := recvErr(s); grpcstatus.Code(err) != codes.ResourceExhausted {
			t.Errorf("error = %v, want ResourceExhausted", err)
		}
	})
}

func TestIdentityResources(t *testing.T) {
	m := newMesh(t)
	bookstore := identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}
	p := m.connect("bookstore", "bookstore")
	s := p.sotw()
	p.request(s, resource.ClusterType, nil, nil, "")
	recv(t, s)

	t.Run("an identity with a connected proxy shows what it was last sent, without computing it again", func(t *testing.T) {
		calls := m.configCalls.Load()
		res, ok := m.server.IdentityResources(bookstore)
		if !ok {
			t.Fatal("bookstore's proxy is connected but its resources were not found")
		}
		if m.configCalls.Load() != calls {
			t.Errorf("looking up the resources computed the configuration again")
		}
		dump := xds.EnvoyResources(res)
		if len(dump.Clusters) != 1 || dump.Clusters[0].GetConnectTimeout().AsDuration() != time.Second {
			t.Errorf("clusters = %v, want bookstore with the first generation's 1s timeout", dump.Clusters)
		}
		if len(dump.Listeners) != 1 || !slices.Equal(dump.Secrets, []string{serviceCertName(bookstore), rootCertName(bookstore)}) {
			t.Errorf("listeners %d, secrets %v: want the listener and the two secrets by name", len(dump.Listeners), dump.Secrets)
		}
	})

	t.Run("after a push the identity shows the new configuration", func(t *testing.T) {
		m.generation.Add(1)
		m.server.Push(context.Background(), func(ca.Proxy) bool { return true })
		res, _ := m.server.IdentityResources(bookstore)
		if got := xds.EnvoyResources(res).Clusters[0].GetConnectTimeout().AsDuration(); got != 2*time.Second {
			t.Errorf("cluster timeout %v, want the second generation's 2s", got)
		}
	})

	t.Run("an identity with no connected proxy is not found", func(t *testing.T) {
		if _, ok := m.server.IdentityResources(identity.Identity{Namespace: "bookbuyer", ServiceAccount: "bookbuyer"}); ok {
			t.Error("bookbuyer has no proxy connected, but its resources were found")
		}
	})

	t.Run("an identity whose last proxy disconnected is not found", func(t *testing.T) {
		_ = s.stream.CloseSend()
		for {
			if _, err := recvErr(s); err != nil {
				break
			}
		}
		if _, ok := m.server.IdentityResources(bookstore); ok {
			t.Error("bookstore's last proxy disconnected, but its resources were found")
		}
	})
}

// MeshConfig sidecar.maxDataPlaneConnections caps the proxies connected at
// once: one over it is refused and counted; those connected keep their
// streams; lifting the cap lets it in.
func TestMaxDataPlaneConnections(t *testing.T) {
	m := newMesh(t)
	m.server.SetMaxDataPlaneConnections(1)
	store := m.connect("bookstore", "bookstore")
	buyer := m.connect("bookbuyer", "bookbuyer")

	s := store.sotw()
	store.request(s, resource.ClusterType, nil, nil, "")
	if _, err := recvErr(s); err != nil {
		t.Fatalf("the first proxy got %v, want a response", err)
	}
	refused := buyer.sotw()
	buyer.request(refused, resource.ClusterType, nil, nil, "")
	if _, err := recvErr(refused); grpcstatus.Code(err) != codes.ResourceExhausted {
		t.Fatalf("a second proxy over the cap got %v, want ResourceExhausted", err)
	}
	if got := metricValue(t, m.registry, "weft_xds_refused_requests_total", "reason", "too_many_proxies"); got != 1 {
		t.Errorf("proxies refused over the cap = %v, want 1", got)
	}
	another := store.sotw()
	store.request(another, resource.ClusterType, nil, nil, "")
	if _, err := recvErr(another); err != nil {
		t.Errorf("a connected proxy's second stream got %v, want a response", err)
	}

	m.server.SetMaxDataPlaneConnections(0)
	s = buyer.sotw()
	buyer.request(s, resource.ClusterType, nil, nil, "")
	if _, err := recvErr(s); err != nil {
		t.Errorf("with no cap the second proxy got %v, want a response", err)
	}
}
