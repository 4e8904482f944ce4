package xds

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"sync"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"

	"github.com/weft-mesh/weft/ca"
)

// TLSConfig requires every client to present a certificate that chains to the
// mesh's current roots. roots is called per connection, so a root rotation
// takes effect without a restart; serverCert is weftd's own certificate.
func TLSConfig(serverCert func() (*tls.Certificate, error), roots func() *x509.CertPool) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
			cert, err := serverCert()
			if err != nil {
				return nil, err
			}
			return &tls.Config{
				MinVersion:   tls.VersionTLS12,
				Certificates: []tls.Certificate{*cert},
				ClientAuth:   tls.RequireAndVerifyClientCert,
				ClientCAs:    roots(),
			}, nil
		},
	}
}

// The per-connection buffers of NewGRPCServer's connections. Reads need none
// of gRPC's own: the framer reads from the TLS connection, which buffers a
// whole record already, so a buffer of gRPC's would hold a second copy (8 KiB
// a connection, 40 MB at 5,000 proxies) for no fewer system calls.
const (
	readBufferSize  = 0
	writeBufferSize = 16 << 10
)

// A connection is checked with an HTTP/2 PING after keepaliveTime without
// reads, and closed when nothing is read for keepaliveTimeout after it. gRPC
// also sets TCP_USER_TIMEOUT to keepaliveTimeout, so the kernel closes a
// connection whose data stays unacknowledged that long. The timeout leaves
// room for several retransmissions of a lost segment (the minimum
// retransmission timeout is 200 ms and doubles): a PING burst to thousands of
// connections made in one connect storm can overflow a host's packet
// backlog, and a live proxy must not be cut off for that.
const (
	keepaliveTime    = 30 * time.Second
	keepaliveTimeout = 20 * time.Second
)

// Listen opens the ADS listener. Its connections carry no TCP keepalive:
// the HTTP/2 keepalive above checks them. With both, and TCP_USER_TIMEOUT
// set, the kernel closed a connection as soon as one keepalive probe or its
// ACK was lost (the user timeout replaces the probe count), and after a
// connect storm every connection probes at the same moment: at 5,000
// proxies a quarter of them were reset, 30 s after the storm, and a proxy
// that never saw the reset waited for configuration that never came.
func Listen(ctx context.Context, addr string) (net.Listener, error) {
	lc := net.ListenConfig{KeepAlive: -1}
	return lc.Listen(ctx, "tcp", addr)
}

// NewGRPCServer returns a gRPC server speaking mTLS with the ADS service of s
// registered (state-of-the-world and delta on the same service). It bounds the
// concurrent streams of a connection and the size of a request by the
// Options' MaxStreamsPerConnection and MaxMessageBytes.
func (s *Server) NewGRPCServer(tlsConfig *tls.Config) *grpc.Server {
	g := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(tlsConfig)),
		grpc.MaxConcurrentStreams(s.maxStreamsPerConnection),
		grpc.MaxRecvMsgSize(s.maxMessageBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: keepaliveTime, Timeout: keepaliveTimeout}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
		grpc.StreamInterceptor(s.countSends),
		// Sized for thousands of long-lived streams, not for throughput on a
		// few: a proxy sends small requests (ACKs), read straight from the
		// TLS connection; responses are written through 16 KiB buffers,
		// which gRPC shares from a pool between flushes, rather than 32 KiB
		// held by every connection.
		grpc.ReadBufferSize(readBufferSize),
		grpc.WriteBufferSize(writeBufferSize),
	)
	discovery.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
	return g
}

// streamProxy carries a stream's authenticated proxy from OnStreamOpen, which
// authenticates it, to the stream's sends, which count per proxy.
type streamProxy struct {
	mu    sync.Mutex
	proxy ca.Proxy
	ok    bool
}

type streamProxyKey struct{}

func (sp *streamProxy) set(p ca.Proxy) {
	sp.mu.Lock()
	sp.proxy, sp.ok = p, true
	sp.mu.Unlock()
}

func (sp *streamProxy) get() (ca.Proxy, bool) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	return sp.proxy, sp.ok
}

// countSends counts each response as sent or failed
// (osm_proxy_response_send_{success,error}_count): go-control-plane calls
// the response callbacks before it sends, so only the stream knows whether
// a send failed.
func (s *Server) countSends(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	sp := &streamProxy{}
	return handler(srv, &countingStream{ServerStream: ss, ctx: context.WithValue(ss.Context(), streamProxyKey{}, sp), sp: sp, s: s})
}

type countingStream struct {
	grpc.ServerStream
	ctx context.Context
	sp  *streamProxy
	s   *Server
}

func (c *countingStream) Context() context.Context { return c.ctx }

func (c *countingStream) SendMsg(m any) error {
	err := c.ServerStream.SendMsg(m)
	var typeURL string
	switch r := m.(type) {
	case *discovery.DiscoveryResponse:
		typeURL = r.GetTypeUrl()
	case *discovery.DeltaDiscoveryResponse:
		typeURL = r.GetTypeUrl()
	default:
		return err
	}
	p, ok := c.sp.get()
	if !ok {
		return err
	}
	counter := c.s.metrics.osmSendSuccess
	if err != nil {
		counter = c.s.metrics.osmSendErrors
	}
	counter.WithLabelValues(p.ID, p.Identity.CommonName(c.s.trustDomain), typeLabel(typeURL)).Inc()
	return err
}
