package xds_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	rpcstatus "google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc/codes"
	"google.golang.org/protobuf/types/known/anypb"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/xds"
)

// FuzzDiscoveryRequest sends arbitrary ADS requests, state-of-the-world or
// delta, on a real authenticated stream: a bookstore proxy's mTLS gRPC
// connection to a server on loopback, as the other tests use. Each input is
// one stream: the requests it decodes (type URL, version, nonce, resource
// names, error detail, node ID), then the end of the client's side. Another
// bookstore stream and a bookbuyer stream stay open throughout, so both
// identities' secrets are in the server's cache. After each input:
//
//   - the stream ended within 10 seconds of the client closing its side (no
//     deadlock), and the server soon holds no state of it;
//   - nothing the stream received is a secret other than bookstore's own, and
//     every certificate it received is bookstore's;
//   - the metric labels are served types, "unknown" and the known refusal
//     reasons, and no log line is longer than a few kilobytes.
//
// Fuzzing runs at about 1,000 inputs a second on two cores (128,000 in two
// minutes). The fuzzing engine is the bound, not gRPC: an empty target in this
// package's test binary runs at about 1,300 a second, and driving the
// server's ADS handler with an in-memory stream instead of mTLS gRPC was no
// faster, so the input goes through the real transport. A response the cache
// queued when the stream ends may go unsent (go-control-plane picks at random
// between it and the end of the requests), so a leak shows in about half the
// runs of an input that causes it: soon enough for a fuzzer.
//
// The input is read as a script (see fuzzScript): one byte per choice, and
// strings either raw or from a dictionary of the values a proxy would send
// (its node ID, type URLs, secret names, the versions it was sent).
//
//	go test -run '^$' -fuzz '^FuzzDiscoveryRequest$' -fuzztime 10m ./pkg/xds/
func FuzzDiscoveryRequest(f *testing.F) {
	serverClock := testingclock.NewFakeClock(time.Now())
	logs := &longestLine{}
	m := newMesh(f, func(o *xds.Options) {
		o.Clock = serverClock
		o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	})
	bookstore := identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}
	bookbuyer := identity.Identity{Namespace: "bookbuyer", ServiceAccount: "bookbuyer"}
	own := []string{serviceCertName(bookstore), rootCertName(bookstore)}

	// The held streams, and the versions bookstore was sent.
	p := m.connect("bookstore", "bookstore")
	held := p.sotw()
	versions := map[string]string{}
	for _, typ := range []string{resource.ClusterType, resource.ListenerType, resource.SecretType} {
		var names []string
		if typ == resource.SecretType {
			names = own
		}
		p.request(held, typ, names, nil, "")
		resp := recv(f, held)
		p.request(held, typ, names, resp, "")
		versions[typ] = resp.GetVersionInfo()
	}
	buyer := m.connect("bookbuyer", "bookbuyer")
	buyerStream := buyer.sotw()
	buyer.request(buyerStream, resource.SecretType, []string{serviceCertName(bookbuyer), rootCertName(bookbuyer)}, nil, "")
	recv(f, buyerStream)

	dict := []string{
		"", p.nodeID, buyer.nodeID,
		resource.ClusterType, resource.ListenerType, resource.SecretType, resource.RouteType, resource.EndpointType,
		resource.RuntimeType, "type.googleapis.com/made.up.Type",
		own[0], own[1], serviceCertName(bookbuyer), rootCertName(bookbuyer),
		versions[resource.ClusterType], versions[resource.ListenerType], versions[resource.SecretType],
		"1", "2", "3", "*", "bookstore", "outbound-listener",
	}
	identityURI := bookstore.SPIFFEID("cluster.local").String()
	client := discovery.NewAggregatedDiscoveryServiceClient(p.conn)

	for _, seed := range [][]fuzzRequest{
		// Envoy starting: CDS, LDS, SDS, then ACKs.
		{
			{node: p.nodeID, typeURL: resource.ClusterType},
			{node: p.nodeID, typeURL: resource.ListenerType},
			{typeURL: resource.SecretType, names: own},
			{typeURL: resource.ClusterType, version: versions[resource.ClusterType], nonce: "1"},
			{typeURL: resource.ListenerType, version: versions[resource.ListenerType], nonce: "2"},
		},
		// A NACK.
		{
			{node: p.nodeID, typeURL: resource.ClusterType},
			{typeURL: resource.ClusterType, nonce: "1", errorDetail: "unknown field"},
		},
		// Another identity's secret, another node, a made-up type.
		{{node: p.nodeID, typeURL: resource.SecretType, names: []string{own[0], serviceCertName(bookbuyer)}}},
		{{node: buyer.nodeID, typeURL: resource.SecretType}},
		{{node: p.nodeID, typeURL: "type.googleapis.com/made.up.Type", errorDetail: "rejected"}},
		// A proxyless gRPC client: named listener, route, cluster, endpoints.
		{
			{node: p.nodeID, typeURL: resource.ListenerType, names: []string{"outbound-listener"}},
			{typeURL: resource.RouteType, names: []string{"bookstore"}},
			{typeURL: resource.ClusterType, names: []string{"bookstore"}},
			{typeURL: resource.EndpointType, names: []string{"bookstore"}},
		},
	} {
		f.Add(fuzzScript{dict: dict}.encode(false, seed))
	}
	for _, seed := range [][]fuzzRequest{
		// Envoy on delta xDS: wildcard CDS, LDS, SDS by name, ACKs.
		{
			{node: p.nodeID, typeURL: resource.ClusterType, names: []string{"*"}},
			{typeURL: resource.ListenerType},
			{typeURL: resource.SecretType, names: own},
			{typeURL: resource.ClusterType, nonce: "1"},
		},
		// A delta NACK, and an unsubscription.
		{
			{node: p.nodeID, typeURL: resource.SecretType, names: own},
			{typeURL: resource.SecretType, nonce: "1", errorDetail: "bad certificate"},
			{typeURL: resource.SecretType, names: own[1:], unsubscribe: true},
		},
		// No node, another identity's secret, versions the client claims to hold.
		{{typeURL: resource.SecretType, names: []string{serviceCertName(bookbuyer)}}},
		{{node: p.nodeID, typeURL: resource.SecretType, names: own, initialVersions: true, version: versions[resource.SecretType]}},
	} {
		f.Add(fuzzScript{dict: dict}.encode(true, seed))
	}

	f.Fuzz(func(t *testing.T, data []byte) {
		// A fresh log interval, so that this input's lines are logged and checked.
		serverClock.Step(time.Minute)
		delta, reqs := fuzzScript{dict: dict, b: data}.decode()
		received, ok := drive(client, delta, reqs, 10*time.Second)
		if !ok {
			t.Fatal("the stream had not ended 10s after the client closed its side")
		}

		for _, a := range received {
			if a.GetTypeUrl() != resource.SecretType {
				continue
			}
			var s tlsv3.Secret
			if err := a.UnmarshalTo(&s); err != nil {
				t.Fatalf("a secret that does not decode: %v", err)
			}
			if !slices.Contains(own, s.GetName()) {
				t.Fatalf("bookstore received the secret %q", s.GetName())
			}
			if chain := s.GetTlsCertificate().GetCertificateChain().GetInlineBytes(); chain != nil {
				block, _ := pem.Decode(chain)
				if block == nil {
					t.Fatalf("secret %q holds no certificate", s.GetName())
				}
				leaf, err := x509.ParseCertificate(block.Bytes)
				if err != nil {
					t.Fatal(err)
				}
				if len(leaf.URIs) != 1 || leaf.URIs[0].String() != identityURI {
					t.Fatalf("bookstore received the certificate of %v", leaf.URIs)
				}
			}
		}

		// A stream the server ends is forgotten before the client hears of
		// it; one the client ends, as soon as the server hears of it.
		for deadline := time.Now().Add(5 * time.Second); m.server.OpenStreams() != 2; time.Sleep(time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%d streams open 5s after the input's stream ended, want the 2 held ones", m.server.OpenStreams())
			}
		}
		for _, name := range []string{"weft_xds_nacks_total", "weft_xds_pushes_total"} {
			for _, v := range labelValues(t, m.registry, name, "type") {
				if !slices.Contains(servedTypes, v) {
					t.Fatalf("%s has the label type=%q", name, v)
				}
			}
		}
		for _, v := range labelValues(t, m.registry, "weft_xds_refused_requests_total", "reason") {
			if !slices.Contains(refusalReasons, v) {
				t.Fatalf("weft_xds_refused_requests_total has the label reason=%q", v)
			}
		}
		if n, line := logs.get(); n > 4096 {
			t.Fatalf("a log line of %d bytes: %.300s...", n, line)
		}
	})
}

var refusalReasons = []string{"unauthenticated", "node_mismatch", "foreign_secret", "unknown_type", "too_many_names", "too_many_streams"}

// drive sends reqs on a new stream of client, closes the client's side and
// returns every resource received until the stream ended; ok is false if it
// had not ended within timeout.
func drive(client discovery.AggregatedDiscoveryServiceClient, delta bool, reqs []fuzzRequest, timeout time.Duration) (received []*anypb.Any, ok bool) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	if delta {
		s, err := client.DeltaAggregatedResources(ctx)
		if err != nil {
			return nil, ctx.Err() == nil
		}
		for _, req := range deltaRequests(reqs) {
			if s.Send(req) != nil {
				break // the server ended the stream
			}
		}
		_ = s.CloseSend()
		for {
			resp, err := s.Recv()
			if err != nil {
				return received, ctx.Err() == nil
			}
			for _, r := range resp.GetResources() {
				received = append(received, r.GetResource())
			}
		}
	}
	s, err := client.StreamAggregatedResources(ctx)
	if err != nil {
		return nil, ctx.Err() == nil
	}
	for _, req := range sotwRequests(reqs) {
		if s.Send(req) != nil {
			break
		}
	}
	_ = s.CloseSend()
	for {
		resp, err := s.Recv()
		if err != nil {
			return received, ctx.Err() == nil
		}
		received = append(received, resp.GetResources()...)
	}
}

func sotwRequests(reqs []fuzzRequest) []*discovery.DiscoveryRequest {
	var out []*discovery.DiscoveryRequest
	for _, r := range reqs {
		req := &discovery.DiscoveryRequest{TypeUrl: r.typeURL, VersionInfo: r.version, ResponseNonce: r.nonce, ResourceNames: r.names}
		if r.hasNode {
			req.Node = &core.Node{Id: r.node}
		}
		if r.hasError {
			req.ErrorDetail = &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: r.errorDetail}
		}
		out = append(out, req)
	}
	return out
}

func deltaRequests(reqs []fuzzRequest) []*discovery.DeltaDiscoveryRequest {
	var out []*discovery.DeltaDiscoveryRequest
	for _, r := range reqs {
		req := &discovery.DeltaDiscoveryRequest{TypeUrl: r.typeURL, ResponseNonce: r.nonce}
		switch {
		case r.unsubscribe:
			req.ResourceNamesUnsubscribe = r.names
		case r.initialVersions:
			req.InitialResourceVersions = map[string]string{}
			for _, n := range r.names {
				req.InitialResourceVersions[n] = r.version
			}
		default:
			req.ResourceNamesSubscribe = r.names
		}
		if r.hasNode {
			req.Node = &core.Node{Id: r.node}
		}
		if r.hasError {
			req.ErrorDetail = &rpcstatus.Status{Code: int32(codes.InvalidArgument), Message: r.errorDetail}
		}
		out = append(out, req)
	}
	return out
}

// fuzzRequest is one request of a script. A delta request puts names in
// resource_names_subscribe, or resource_names_unsubscribe (unsubscribe), or
// initial_resource_versions at version (initialVersions).
type fuzzRequest struct {
	typeURL, version, nonce      string
	hasNode                      bool
	node                         string
	hasError                     bool
	errorDetail                  string
	names                        []string
	unsubscribe, initialVersions bool
}

// fuzzScript reads and writes inputs: a byte whose low bit says delta, then
// up to 16 requests, each
//
//	flags (1 node, 2 error detail, 4 unsubscribe, 8 initial versions)
//	type URL, version, nonce, [node ID], [error detail]
//	a count (mod 8) of resource names, and the names
//
// A string is a byte n and then n raw bytes, or, for n >= 0xE0, the
// dictionary's entry n-0xE0 (modulo its length). Missing bytes read as zero.
type fuzzScript struct {
	dict []string
	b    []byte
}

const (
	fuzzMaxRequests = 16
	fuzzDict        = 0xE0
)

func (s *fuzzScript) byte() byte {
	if len(s.b) == 0 {
		return 0
	}
	c := s.b[0]
	s.b = s.b[1:]
	return c
}

func (s *fuzzScript) str() string {
	n := s.byte()
	if n >= fuzzDict {
		return s.dict[int(n-fuzzDict)%len(s.dict)]
	}
	k := min(int(n), len(s.b))
	out := string(s.b[:k])
	s.b = s.b[k:]
	// A protobuf string is UTF-8: the client would refuse to send anything
	// else, and the input would never reach the server.
	return strings.ToValidUTF8(out, "\uFFFD")
}

func (s fuzzScript) decode() (delta bool, reqs []fuzzRequest) {
	delta = s.byte()&1 == 1
	for len(s.b) > 0 && len(reqs) < fuzzMaxRequests {
		flags := s.byte()
		r := fuzzRequest{hasNode: flags&1 != 0, hasError: flags&2 != 0, unsubscribe: flags&4 != 0, initialVersions: flags&8 != 0}
		r.typeURL, r.version, r.nonce = s.str(), s.str(), s.str()
		if r.hasNode {
			r.node = s.str()
		}
		if r.hasError {
			r.errorDetail = s.str()
		}
		for range s.byte() % 8 {
			r.names = append(r.names, s.str())
		}
		reqs = append(reqs, r)
	}
	return delta, reqs
}

// encode writes a seed; node and errorDetail set hasNode and hasError.
func (s fuzzScript) encode(delta bool, reqs []fuzzRequest) []byte {
	var out []byte
	if delta {
		out = append(out, 1)
	} else {
		out = append(out, 0)
	}
	str := func(v string) {
		if i := slices.Index(s.dict, v); i >= 0 {
			out = append(out, byte(fuzzDict+i))
			return
		}
		v = v[:min(len(v), fuzzDict-1)]
		out = append(out, byte(len(v)))
		out = append(out, v...)
	}
	for _, r := range reqs {
		var flags byte
		if r.node != "" {
			flags |= 1
		}
		if r.errorDetail != "" {
			flags |= 2
		}
		if r.unsubscribe {
			flags |= 4
		}
		if r.initialVersions {
			flags |= 8
		}
		out = append(out, flags)
		str(r.typeURL)
		str(r.version)
		str(r.nonce)
		if r.node != "" {
			str(r.node)
		}
		if r.errorDetail != "" {
			str(r.errorDetail)
		}
		out = append(out, byte(len(r.names)))
		for _, n := range r.names {
			str(n)
		}
	}
	return out
}

// longestLine is a log writer that keeps only the longest line written.
type longestLine struct {
	mu   sync.Mutex
	n    int
	line string
}

func (l *longestLine) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(p) > l.n {
		l.n, l.line = len(p), string(p[:min(len(p), 300)])
	}
	return len(p), nil
}

func (l *longestLine) get() (int, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n, l.line
}
