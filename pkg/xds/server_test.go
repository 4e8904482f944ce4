package xds_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxy "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/xds"
)

// mesh is an ADS server on loopback with a real CA. Its configuration for a
// proxy is a cluster and a listener that proxies TCP to it, whose timeouts
// carry the mesh's generation (so a test can change it), and the proxy's
// service certificate and root. It passes Envoy's validation unless dangling
// is set, which points the listener at a cluster that does not exist.
type mesh struct {
	t           testing.TB
	clock       *testingclock.FakeClock
	ca          *ca.Manager
	server      *xds.Server
	registry    *prometheus.Registry
	logs        *logBuffer
	addr        string
	generation  atomic.Int64
	dangling    atomic.Bool
	configCalls atomic.Int64
}

// newMesh starts the server with the test's clock, logger and registry; opts
// change its Options further.
func newMesh(t testing.TB, opts ...func(*xds.Options)) *mesh {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// The fake clock starts now: the TLS handshakes check certificates
	// against the real time.
	m := &mesh{t: t, clock: testingclock.NewFakeClock(time.Now()), registry: prometheus.NewRegistry(), logs: &logBuffer{}}
	roots, err := internalca.NewRoot("weft test root", internalca.DefaultRootValidity, m.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if m.ca, err = ca.NewManager(ca.Options{Signer: internalca.New(roots, m.clock), Clock: m.clock, TrustDomain: identity.DefaultTrustDomain}); err != nil {
		t.Fatal(err)
	}
	o := xds.Options{
		Config:       m.config,
		Authenticate: m.ca.AuthenticateProxy,
		TrustDomain:  m.ca.TrustDomain(),
		Registerer:   m.registry,
		Clock:        m.clock,
		Logger:       slog.New(slog.NewTextHandler(m.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	for _, opt := range opts {
		opt(&o)
	}
	m.server, err = xds.NewServer(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	go m.server.FollowRenewals(ctx, m.ca.Subscribe())

	serving, err := m.ca.Issue(ctx, ca.LeafRequest{Kind: ca.KindService, CommonName: "weftd.osm-system.svc",
		DNSNames: []string{"weftd.osm-system.svc"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(serving.CertChainPEM, serving.PrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	g := m.server.NewGRPCServer(xds.TLSConfig(func() (*tls.Certificate, error) { return &cert, nil }, m.ca.BundlePool))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	m.addr = l.Addr().String()
	go func() { _ = g.Serve(l) }()
	t.Cleanup(g.Stop)
	return m
}

func serviceCertName(id identity.Identity) string { return "service-cert:" + id.String() }
func rootCertName(id identity.Identity) string    { return "root-cert-for-mtls-inbound:" + id.String() }

func (m *mesh) config(ctx context.Context, p ca.Proxy) (xds.Resources, error) {
	m.configCalls.Add(1)
	cert, err := m.ca.ServiceCertificate(ctx, p.Identity)
	if err != nil {
		return nil, err
	}
	timeout := durationpb.New(time.Duration(1+m.generation.Load()) * time.Second)
	upstream := "bookstore"
	if m.dangling.Load() {
		upstream = "no-such-cluster"
	}
	tcp, err := anypb.New(&tcpproxy.TcpProxy{StatPrefix: "outbound", ClusterSpecifier: &tcpproxy.TcpProxy_Cluster{Cluster: upstream}})
	if err != nil {
		return nil, err
	}
	return xds.Resources{
		resource.ClusterType: {&cluster.Cluster{Name: "bookstore", ConnectTimeout: timeout}},
		resource.ListenerType: {&listener.Listener{Name: "outbound-listener", ListenerFiltersTimeout: timeout,
			Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{Address: "0.0.0.0", PortSpecifier: &core.SocketAddress_PortValue{PortValue: 15001}}}},
			FilterChains: []*listener.FilterChain{{Name: "outbound", Filters: []*listener.Filter{
				{Name: "envoy.filters.network.tcp_proxy", ConfigType: &listener.Filter_TypedConfig{TypedConfig: tcp}},
			}}}}},
		resource.SecretType: {
			&tlsv3.Secret{Name: serviceCertName(p.Identity), Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
				CertificateChain: &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: cert.CertChainPEM}},
				PrivateKey:       &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: cert.PrivateKeyPEM}},
			}}},
			&tlsv3.Secret{Name: rootCertName(p.Identity), Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
				TrustedCa: &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: m.ca.Bundle()}},
			}}},
		},
	}, nil
}

// proxy is a data-plane client: a proxy certificate and an mTLS connection.
type proxy struct {
	t      testing.TB
	proxy  ca.Proxy
	nodeID string
	conn   *grpc.ClientConn
}

func (m *mesh) connect(ns, sa string) *proxy {
	m.t.Helper()
	p := ca.Proxy{ID: uuid.NewString(), Kind: ca.ProxySidecar, Identity: identity.Identity{Namespace: ns, ServiceAccount: sa}}
	cert, err := m.ca.ProxyCertificate(context.Background(), p)
	if err != nil {
		m.t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cert.CertChainPEM, cert.PrivateKeyPEM)
	if err != nil {
		m.t.Fatal(err)
	}
	return m.dial(p, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: m.ca.BundlePool(), ServerName: "weftd.osm-system.svc", MinVersion: tls.VersionTLS12})
}

func (m *mesh) dial(p ca.Proxy, cfg *tls.Config) *proxy {
	m.t.Helper()
	conn, err := grpc.NewClient(m.addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		m.t.Fatal(err)
	}
	m.t.Cleanup(func() { conn.Close() })
	return &proxy{t: m.t, proxy: p, nodeID: p.CommonName("cluster.local"), conn: conn}
}

// sotw opens a state-of-the-world ADS stream, read by one goroutine.
func (p *proxy) sotw() *adsStream {
	p.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p.t.Cleanup(cancel)
	s, err := discovery.NewAggregatedDiscoveryServiceClient(p.conn).StreamAggregatedResources(ctx)
	if err != nil {
		p.t.Fatal(err)
	}
	a := &adsStream{stream: s, responses: make(chan received, 16)}
	go func() {
		for {
			resp, err := s.Recv()
			a.responses <- received{resp, err}
			if err != nil {
				return
			}
		}
	}()
	return a
}

type adsStream struct {
	stream    discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	responses chan received
}

type received struct {
	resp *discovery.DiscoveryResponse
	err  error
}

func (p *proxy) request(s *adsStream, typeURL string, names []string, ack *discovery.DiscoveryResponse, nack string) {
	p.t.Helper()
	req := &discovery.DiscoveryRequest{Node: &core.Node{Id: p.nodeID}, TypeUrl: typeURL, ResourceNames: names}
	if ack != nil {
		req.VersionInfo, req.ResponseNonce = ack.GetVersionInfo(), ack.GetNonce()
	}
	if nack != "" {
		req.ErrorDetail = &status.Status{Code: int32(codes.InvalidArgument), Message: nack}
	}
	// io.EOF: the server has ended the stream (a refusal at open races the
	// send); as gRPC says, the status is what the next Recv returns.
	if err := s.stream.Send(req); err != nil && !errors.Is(err, io.EOF) {
		p.t.Fatal(err)
	}
}

func recv(t testing.TB, s *adsStream) *discovery.DiscoveryResponse {
	t.Helper()
	resp, err := recvErr(s)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func recvErr(s *adsStream) (*discovery.DiscoveryResponse, error) {
	select {
	case r := <-s.responses:
		return r.resp, r.err
	case <-time.After(10 * time.Second):
		return nil, errors.New("no response within 10s")
	}
}

// quiet fails if a response arrives within d. A resend loop answers within
// microseconds, so a short window shows its absence.
func quiet(t *testing.T, s *adsStream, d time.Duration) {
	t.Helper()
	select {
	case r := <-s.responses:
		t.Fatalf("unexpected response: %s version %s (err %v)", r.resp.GetTypeUrl(), r.resp.GetVersionInfo(), r.err)
	case <-time.After(d):
	}
}

func TestADSStateOfTheWorld(t *testing.T) {
	m := newMesh(t)
	bookstore := identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}
	p := m.connect("bookstore", "bookstore")
	s := p.sotw()
	accepted := map[string]string{} // the version last ACKed, by type

	t.Run("a proxy receives and ACKs every type", func(t *testing.T) {
		for _, typ := range []struct {
			url   string
			names []string
		}{
			{resource.ClusterType, nil},
			{resource.ListenerType, nil},
			{resource.SecretType, []string{serviceCertName(bookstore), rootCertName(bookstore)}},
		} {
			p.request(s, typ.url, typ.names, nil, "")
			resp := recv(t, s)
			if resp.GetTypeUrl() != typ.url || len(resp.GetResources()) == 0 {
				t.Fatalf("got %s with %d resources, want %s", resp.GetTypeUrl(), len(resp.GetResources()), typ.url)
			}
			p.request(s, typ.url, typ.names, resp, "")
			accepted[typ.url] = resp.GetVersionInfo()
		}
	})

	t.Run("a NACK is counted and the rejected configuration is not resent", func(t *testing.T) {
		m.generation.Add(1)
		m.server.Push(context.Background(), func(ca.Proxy) bool { return true })
		bad := recv(t, s)
		if bad.GetTypeUrl() != resource.ClusterType && bad.GetTypeUrl() != resource.ListenerType {
			t.Fatalf("got %s, want the changed cluster or listener", bad.GetTypeUrl())
		}
		// The other changed type arrives too; ACK it, then NACK the first.
		other := recv(t, s)
		p.request(s, other.GetTypeUrl(), nil, other, "")
		// As Envoy does, the NACK carries the last accepted version and the
		// rejected response's nonce.
		nack := &discovery.DiscoveryResponse{VersionInfo: accepted[bad.GetTypeUrl()], Nonce: bad.GetNonce()}
		p.request(s, bad.GetTypeUrl(), nil, nack, "unknown field in the configuration")
		waitFor(t, func() bool { return metricSum(t, m.registry, "weft_xds_nacks_total") == 1 })
		quiet(t, s, 300*time.Millisecond)
		// The next response is the next change.
		m.generation.Add(1)
		m.server.Push(context.Background(), func(ca.Proxy) bool { return true })
		next := recv(t, s)
		if next.GetVersionInfo() == bad.GetVersionInfo() && next.GetTypeUrl() == bad.GetTypeUrl() {
			t.Fatalf("the NACKed %s version %s was resent", bad.GetTypeUrl(), bad.GetVersionInfo())
		}
		p.request(s, next.GetTypeUrl(), nil, next, "")
		after := recv(t, s)
		p.request(s, after.GetTypeUrl(), nil, after, "")
	})

	t.Run("a proxy has at most one unacknowledged push per type", func(t *testing.T) {
		m.generation.Add(1)
		m.server.Push(context.Background(), func(ca.Proxy) bool { return true })
		first := recv(t, s)
		second := recv(t, s) // the other changed type
		m.generation.Add(1)
		m.server.Push(context.Background(), func(ca.Proxy) bool { return true })
		quiet(t, s, 300*time.Millisecond)
		// Each ACK releases the newest version of its type.
		for _, r := range []*discovery.DiscoveryResponse{first, second} {
			p.request(s, r.GetTypeUrl(), nil, r, "")
			next := recv(t, s)
			if next.GetTypeUrl() != r.GetTypeUrl() || next.GetVersionInfo() == r.GetVersionInfo() {
				t.Fatalf("after the ACK of %s got %s version %s, want its newest version", r.GetTypeUrl(), next.GetTypeUrl(), next.GetVersionInfo())
			}
			p.request(s, next.GetTypeUrl(), nil, next, "")
		}
	})

	t.Run("an unchanged configuration is not pushed again", func(t *testing.T) {
		r := m.server.Push(context.Background(), func(ca.Proxy) bool { return true })
		if r.Recomputed != 1 || r.Updated != 0 {
			t.Errorf("push = %+v, want 1 recomputed and 0 updated", r)
		}
	})

	t.Run("a renewed certificate reaches the proxy as a new secret", func(t *testing.T) {
		before, err := m.ca.ServiceCertificate(context.Background(), bookstore)
		if err != nil {
			t.Fatal(err)
		}
		m.clock.Step(23 * time.Hour)
		if _, err := m.ca.RenewDue(context.Background()); err != nil {
			t.Fatal(err)
		}
		resp := recv(t, s)
		if resp.GetTypeUrl() != resource.SecretType {
			t.Fatalf("got %s, want the renewed secret", resp.GetTypeUrl())
		}
		after, err := m.ca.ServiceCertificate(context.Background(), bookstore)
		if err != nil {
			t.Fatal(err)
		}
		if after.SerialNumber() == before.SerialNumber() {
			t.Fatal("the certificate was not renewed")
		}
		if !containsCert(t, resp, after) {
			t.Errorf("the pushed secret does not hold the renewed certificate %s", after.SerialNumber())
		}
		p.request(s, resource.SecretType, []string{serviceCertName(bookstore), rootCertName(bookstore)}, resp, "")
	})

	t.Run("asking for another identity's certificate closes the stream", func(t *testing.T) {
		bookbuyer := identity.Identity{Namespace: "bookbuyer", ServiceAccount: "bookbuyer"}
		p.request(s, resource.SecretType, []string{serviceCertName(bookstore), serviceCertName(bookbuyer)}, nil, "")
		_, err := recvErr(s)
		if grpcstatus.Code(err) != codes.PermissionDenied || !strings.Contains(err.Error(), `secret "service-cert:bookbuyer/bookbuyer" is not served`) {
			t.Errorf("error = %v, want PermissionDenied for bookbuyer's certificate", err)
		}
	})
}

func TestADSRefusesStreams(t *testing.T) {
	m := newMesh(t)

	t.Run("a client without a certificate cannot open a stream", func(t *testing.T) {
		p := m.dial(ca.Proxy{ID: uuid.NewString()}, &tls.Config{RootCAs: m.ca.BundlePool(), ServerName: "weftd.osm-system.svc", MinVersion: tls.VersionTLS12})
		s, err := discovery.NewAggregatedDiscoveryServiceClient(p.conn).StreamAggregatedResources(context.Background())
		if err == nil {
			if err = s.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: p.nodeID}, TypeUrl: resource.ClusterType}); err == nil {
				_, err = s.Recv()
			}
		}
		if grpcstatus.Code(err) != codes.Unavailable {
			t.Errorf("error = %v, want the TLS handshake to fail (Unavailable)", err)
		}
	})

	t.Run("a proxy certificate of another root fails the handshake", func(t *testing.T) {
		other := newMesh(t)
		pc := ca.Proxy{ID: uuid.NewString(), Kind: ca.ProxySidecar, Identity: identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}}
		cert, err := other.ca.ProxyCertificate(context.Background(), pc)
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(cert.CertChainPEM, cert.PrivateKeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		p := m.dial(pc, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: m.ca.BundlePool(), ServerName: "weftd.osm-system.svc", MinVersion: tls.VersionTLS12})
		s, err := discovery.NewAggregatedDiscoveryServiceClient(p.conn).StreamAggregatedResources(context.Background())
		if err == nil {
			if err = s.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: p.nodeID}, TypeUrl: resource.ClusterType}); err == nil {
				_, err = s.Recv()
			}
		}
		if code := grpcstatus.Code(err); code != codes.Unavailable && code != codes.Unauthenticated {
			t.Errorf("error = %v, want the TLS handshake to fail", err)
		}
	})

	t.Run("a service certificate is not a proxy certificate", func(t *testing.T) {
		svc, err := m.ca.ServiceCertificate(context.Background(), identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"})
		if err != nil {
			t.Fatal(err)
		}
		pair, err := tls.X509KeyPair(svc.CertChainPEM, svc.PrivateKeyPEM)
		if err != nil {
			t.Fatal(err)
		}
		p := m.dial(ca.Proxy{}, &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: m.ca.BundlePool(), ServerName: "weftd.osm-system.svc", MinVersion: tls.VersionTLS12})
		s := p.sotw()
		p.request(s, resource.ClusterType, nil, nil, "")
		if _, err := recvErr(s); grpcstatus.Code(err) != codes.Unauthenticated {
			t.Errorf("error = %v, want Unauthenticated", err)
		}
	})

	t.Run("a node ID other than the certificate's is refused", func(t *testing.T) {
		p := m.connect("bookstore", "bookstore")
		p.nodeID = fmt.Sprintf("%s.sidecar.bookbuyer.bookbuyer.cluster.local", uuid.NewString())
		s := p.sotw()
		p.request(s, resource.ClusterType, nil, nil, "")
		if _, err := recvErr(s); grpcstatus.Code(err) != codes.PermissionDenied {
			t.Errorf("error = %v, want PermissionDenied", err)
		}
	})
}

func TestPushTouchesOnlyAffectedProxies(t *testing.T) {
	m := newMesh(t)
	streams := map[string]*adsStream{}
	for _, sa := range []string{"bookstore", "bookbuyer"} {
		p := m.connect(sa, sa)
		s := p.sotw()
		p.request(s, resource.ClusterType, nil, nil, "")
		resp := recv(t, s)
		p.request(s, resource.ClusterType, nil, resp, "")
		streams[sa] = s
	}
	m.generation.Add(1)
	r := m.server.Push(context.Background(), func(p ca.Proxy) bool { return p.Identity.ServiceAccount == "bookbuyer" })
	if r.Recomputed != 1 || r.Updated != 1 {
		t.Fatalf("push = %+v, want exactly bookbuyer recomputed and updated", r)
	}
	if resp := recv(t, streams["bookbuyer"]); resp.GetTypeUrl() != resource.ClusterType {
		t.Errorf("bookbuyer got %s, want its new clusters", resp.GetTypeUrl())
	}
}

func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("timed out")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func containsCert(t *testing.T, resp *discovery.DiscoveryResponse, c *ca.Certificate) bool {
	t.Helper()
	for _, a := range resp.GetResources() {
		var s tlsv3.Secret
		if err := anypb.UnmarshalTo(a, &s, protoUnmarshal); err != nil {
			t.Fatal(err)
		}
		if string(s.GetTlsCertificate().GetCertificateChain().GetInlineBytes()) == string(c.CertChainPEM) {
			return true
		}
	}
	return false
}

// metricSum adds up every sample of a counter or gauge family.
func metricSum(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum
}

var protoUnmarshal = proto.UnmarshalOptions{}
