// Package adstest plays a sidecar's ADS client in tests: one stream over mTLS
// with a proxy certificate, read as Envoy reads it (ACKing every response), and
// readers for the responses the tests look at. It serves cmd/weftd's and e2e's
// tests; nothing else may import it.
package adstest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"

	"github.com/weft-mesh/weft/ca"
)

// ProxyPair issues p's proxy certificate from manager, as the key pair a
// proxy dials weftd with.
func ProxyPair(t testing.TB, manager *ca.Manager, p ca.Proxy) tls.Certificate {
	t.Helper()
	cert, err := manager.ProxyCertificate(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cert.CertChainPEM, cert.PrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair
}

// ServerName is the name weftd's serving certificate carries in the default
// mesh (--service-name weftd in osm-system).
const ServerName = "weftd.osm-system.svc"

// Stream is one proxy's ADS stream.
type Stream struct {
	nodeID string
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	// names are the resource names subscribed per type, repeated in ACKs.
	names map[string][]string
	// in has what the stream received, read by one goroutine so that a
	// test can wait for nothing (Quiet) without losing what comes later.
	in chan received
}

type received struct {
	resp *discovery.DiscoveryResponse
	err  error
}

// Dial opens an ADS stream to addr with the proxy certificate pair, trusting
// roots, as nodeID; the stream lasts at most a minute and closes with the test.
func Dial(t *testing.T, ctx context.Context, addr string, pair tls.Certificate, roots *x509.CertPool, nodeID string) *Stream {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair}, RootCAs: roots, ServerName: ServerName, MinVersion: tls.VersionTLS12,
	})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(cancel)
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		t.Fatal(err)
	}
	s := &Stream{nodeID: nodeID, stream: stream, names: map[string][]string{}, in: make(chan received, 64)}
	go func() {
		for {
			resp, err := stream.Recv()
			s.in <- received{resp, err}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// next returns what the stream received next; a closed stream keeps
// returning its error.
func (s *Stream) next() (*discovery.DiscoveryResponse, error) {
	r := <-s.in
	if r.err != nil {
		s.in <- r
	}
	return r.resp, r.err
}

// ack acknowledges resp, as Envoy does.
func (s *Stream) ack(t *testing.T, resp *discovery.DiscoveryResponse) {
	t.Helper()
	ack := &discovery.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(),
		ResourceNames: s.names[resp.GetTypeUrl()]}
	if err := s.stream.Send(ack); err != nil {
		t.Fatal(err)
	}
}

// Settle reads and ACKs responses until none has come for quiet, and returns
// the last one (nil if none came).
func (s *Stream) Settle(t *testing.T, quiet time.Duration) *discovery.DiscoveryResponse {
	t.Helper()
	var last *discovery.DiscoveryResponse
	for {
		select {
		case r := <-s.in:
			if r.err != nil {
				t.Fatalf("the ADS stream ended: %v", r.err)
			}
			s.ack(t, r.resp)
			last = r.resp
		case <-time.After(quiet):
			return last
		}
	}
}

// Quiet fails the test if the stream has received anything since it was
// last read, or receives anything within d, or has ended: the proxy keeps
// the configuration it has, on the same stream.
func (s *Stream) Quiet(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case r := <-s.in:
		if r.err != nil {
			t.Fatalf("the ADS stream ended: %v", r.err)
		}
		s.ack(t, r.resp)
		t.Fatalf("weftd sent %s version %q with %d resources", r.resp.GetTypeUrl(), r.resp.GetVersionInfo(), len(r.resp.GetResources()))
	case <-time.After(d):
	}
}

// Await subscribes to typeURL (unless it is empty) with names and reads
// responses, ACKing each as Envoy does, until accept takes one of typeURL (of
// any type when typeURL is empty). The stream's deadline bounds the wait.
func (s *Stream) Await(t *testing.T, typeURL string, names []string, accept func(*discovery.DiscoveryResponse) bool) {
	t.Helper()
	if typeURL != "" {
		s.names[typeURL] = names
		if err := s.stream.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: s.nodeID}, TypeUrl: typeURL, ResourceNames: names}); err != nil {
			t.Fatal(err)
		}
	}
	for {
		resp, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		s.ack(t, resp)
		if (typeURL == "" || resp.GetTypeUrl() == typeURL) && accept(resp) {
			return
		}
	}
}

// Reject subscribes to typeURL with names and answers the first response of
// that type with a NACK carrying message, as Envoy does when it rejects a
// configuration (the version it names is the last accepted, none here).
// Responses of other types are ACKed. It returns the rejected response.
func (s *Stream) Reject(t *testing.T, typeURL string, names []string, message string) *discovery.DiscoveryResponse {
	t.Helper()
	s.names[typeURL] = names
	if err := s.stream.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: s.nodeID}, TypeUrl: typeURL, ResourceNames: names}); err != nil {
		t.Fatal(err)
	}
	for {
		resp, err := s.next()
		if err != nil {
			t.Fatal(err)
		}
		if resp.GetTypeUrl() != typeURL {
			s.ack(t, resp)
			continue
		}
		nack := &discovery.DiscoveryRequest{TypeUrl: typeURL, ResponseNonce: resp.GetNonce(), ResourceNames: names,
			ErrorDetail: &status.Status{Code: int32(codes.InvalidArgument), Message: message}}
		if err := s.stream.Send(nack); err != nil {
			t.Fatal(err)
		}
		return resp
	}
}

// ClusterNames lists a CDS response's clusters.
func ClusterNames(t *testing.T, resp *discovery.DiscoveryResponse) []string {
	t.Helper()
	var names []string
	for _, a := range resp.GetResources() {
		var c clusterv3.Cluster
		if err := a.UnmarshalTo(&c); err != nil {
			t.Fatal(err)
		}
		names = append(names, c.GetName())
	}
	return names
}

// WeightedClusters renders the clusters that an RDS response's routes for
// domain send to, as "cluster=weight ..." (a single cluster weighs 1000).
func WeightedClusters(t *testing.T, resp *discovery.DiscoveryResponse, domain string) string {
	t.Helper()
	var parts []string
	for _, a := range resp.GetResources() {
		var rc routev3.RouteConfiguration
		if err := a.UnmarshalTo(&rc); err != nil {
			t.Fatal(err)
		}
		for _, vh := range rc.GetVirtualHosts() {
			if !slices.Contains(vh.GetDomains(), domain) {
				continue
			}
			for _, r := range vh.GetRoutes() {
				if c := r.GetRoute().GetCluster(); c != "" {
					parts = append(parts, c+"=1000")
				}
				for _, wc := range r.GetRoute().GetWeightedClusters().GetClusters() {
					parts = append(parts, fmt.Sprintf("%s=%d", wc.GetName(), wc.GetWeight().GetValue()))
				}
			}
		}
	}
	return strings.Join(parts, " ")
}
