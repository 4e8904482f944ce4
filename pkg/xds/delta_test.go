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
)

type deltaStream struct {
	t         *testing.T
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
	bookstore := ca.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}
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
