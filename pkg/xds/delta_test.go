package xds_test

import (
	"context"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/identity"
)

type deltaStream struct {
	t         testing.TB
	p         *proxy
	stream    discovery.AggregatedDiscoveryService_DeltaAggregatedResourcesClient
	responses chan deltaReceived
}

type deltaReceived struct {
	resp *discovery.DeltaDiscoveryResponse
	err  error
}

func (p *proxy) delta() *deltaStream {
	p.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p.t.Cleanup(cancel)
	s, err := discovery.NewAggregatedDiscoveryServiceClient(p.conn).DeltaAggregatedResources(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	d := &deltaStream{t: p.t, p: p, stream: s, responses: make(chan deltaReceived, 16)}
	go func() {
		for {
			resp, err := s.Recv()
			d.responses <- deltaReceived{resp, err}
			if err != nil {
				return
			}
		}
	}()
	return d
}

func (d *deltaStream) send(req *discovery.DeltaDiscoveryRequest) {
	d.t.Helper()
	req.Node = &core.Node{Id: d.p.nodeID}
	if err := d.stream.Send(req); err != nil {
		d.t.Fatal(err)
	}
}

func (d *deltaStream) recv() (*discovery.DeltaDiscoveryResponse, error) {
	select {
	case r := <-d.responses:
		return r.resp, r.err
	case <-time.After(10 * time.Second):
		d.t.Fatal("no delta response within 10s")
		return nil, nil
	}
}

func TestADSDelta(t *testing.T) {
	m := newMesh(t)
	bookstore := identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}
	p := m.connect("bookstore", "bookstore")
	d := p.delta()

	t.Run("a proxy subscribes to every type and ACKs", func(t *testing.T) {
		for _, typ := range []struct {
			url   string
			names []string
		}{
			{resource.ClusterType, nil},
			{resource.ListenerType, nil},
			{resource.SecretType, []string{serviceCertName(bookstore), rootCertName(bookstore)}},
		} {
			d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: typ.url, ResourceNamesSubscribe: typ.names})
			resp, err := d.recv()
			if err != nil {
				t.Fatal(err)
			}
			if resp.GetTypeUrl() != typ.url || len(resp.GetResources()) == 0 {
				t.Fatalf("got %s with %d resources, want %s", resp.GetTypeUrl(), len(resp.GetResources()), typ.url)
			}
			d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: typ.url, ResponseNonce: resp.GetNonce()})
		}
	})

	t.Run("a change sends only the changed resources, and a NACK is not answered with a resend", func(t *testing.T) {
		m.generation.Add(1)
		m.server.Push(context.Background(), func(ca.Proxy) bool { return true })
		first, err := d.recv()
		if err != nil {
			t.Fatal(err)
		}
		second, err := d.recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range []*discovery.DeltaDiscoveryResponse{first, second} {
			if r.GetTypeUrl() == resource.SecretType {
				t.Errorf("unchanged secrets were sent again")
			}
		}
		d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: second.GetTypeUrl(), ResponseNonce: second.GetNonce()})
		d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: first.GetTypeUrl(), ResponseNonce: first.GetNonce(),
			ErrorDetail: &status.Status{Code: int32(codes.InvalidArgument), Message: "rejected"}})
		waitFor(t, func() bool { return metricSum(t, m.registry, "weft_xds_nacks_total") == 1 })
		select {
		case r := <-d.responses:
			t.Fatalf("unexpected response after a NACK: %s", r.resp.GetTypeUrl())
		case <-time.After(300 * time.Millisecond):
		}
	})

	t.Run("subscribing to another identity's certificate closes the stream", func(t *testing.T) {
		d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.SecretType, ResourceNamesSubscribe: []string{"service-cert:bookbuyer/bookbuyer"}})
		_, err := d.recv()
		if grpcstatus.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), "service-cert:bookbuyer/bookbuyer") {
			t.Errorf("error = %v, want PermissionDenied naming bookbuyer's certificate", err)
		}
	})
}

func TestStateOfTheWorldAndDeltaStreamsAreKeptApart(t *testing.T) {
	// go-control-plane numbers state-of-the-world and delta streams
	// separately, so the first stream of each has the same ID.
	m := newMesh(t)
	bookstore := m.connect("bookstore", "bookstore")
	bookbuyer := m.connect("bookbuyer", "bookbuyer")
	s := bookstore.sotw()
	bookstore.request(s, resource.ClusterType, nil, nil, "")
	recv(t, s)
	d := bookbuyer.delta()
	d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType})
	if _, err := d.recv(); err != nil {
		t.Fatal(err)
	}

	t.Run("a proxy's state-of-the-world stream is still its own after another proxy opens a delta stream", func(t *testing.T) {
		bookstore.request(s, resource.ListenerType, nil, nil, "")
		if resp, err := recvErr(s); err != nil || resp.GetTypeUrl() != resource.ListenerType {
			t.Errorf("got %s, %v: want bookstore's listeners", resp.GetTypeUrl(), err)
		}
	})

	t.Run("a delta request without a node is the delta stream's proxy's", func(t *testing.T) {
		if err := d.stream.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.SecretType,
			ResourceNamesSubscribe: []string{serviceCertName(bookbuyer.proxy.Identity)}}); err != nil {
			t.Fatal(err)
		}
		resp, err := d.recv()
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range resp.GetResources() {
			if r.GetName() != serviceCertName(bookbuyer.proxy.Identity) {
				t.Errorf("bookbuyer received %s", r.GetName())
			}
		}
	})
}

func TestADeltaStreamNeverServesAnotherProxysSecrets(t *testing.T) {
	// bookbuyer's delta stream and then bookstore's state-of-the-world
	// stream: the first of each kind, with the same stream ID.
	m := newMesh(t)
	bookstore := m.connect("bookstore", "bookstore")
	bookbuyer := m.connect("bookbuyer", "bookbuyer")
	d := bookbuyer.delta()
	d.send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.ClusterType})
	if _, err := d.recv(); err != nil {
		t.Fatal(err)
	}
	s := bookstore.sotw()
	bookstore.request(s, resource.ClusterType, nil, nil, "")
	recv(t, s)

	// Without a node, asking for bookstore's certificate.
	want := serviceCertName(bookstore.proxy.Identity)
	if err := d.stream.Send(&discovery.DeltaDiscoveryRequest{TypeUrl: resource.SecretType, ResourceNamesSubscribe: []string{want}}); err != nil {
		t.Fatal(err)
	}
	resp, err := d.recv()
	if grpcstatus.Code(err) != codes.PermissionDenied {
		t.Errorf("got %v and %d resources, want PermissionDenied for bookstore's certificate", err, len(resp.GetResources()))
	}
}
