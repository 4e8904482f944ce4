package nginxtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

const (
	nginxIP   = "127.0.9.1"
	backendIP = "127.0.9.2"
	// serverName is the backend's DNS SAN, which nginx verifies.
	serverName = "bookstore.bookstore.cluster.local"
	clientCN   = "ingress-gateway.weft-system"
)

// TestGRPCOverMTLS proxies through nginx to a grpc-go server that requires and
// verifies client certificates, with no mesh code: a throwaway CA issues both
// sides' certificates.
func TestGRPCOverMTLS(t *testing.T) {
	ca := newCA(t)
	serverCert := ca.issue(t, "bookstore", []string{serverName}, "spiffe://cluster.local/ns/bookstore/sa/bookstore", x509.ExtKeyUsageServerAuth)
	clientCert := ca.issue(t, clientCN, nil, "spiffe://cluster.local/ns/weft-system/sa/ingress-gateway", x509.ExtKeyUsageClientAuth)

	pair, err := tls.X509KeyPair(serverCert.certPEM, serverCert.keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	creds := &recordingCreds{TransportCredentials: credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair},
		ClientCAs:    ca.pool,
		ClientAuth:   tls.RequireAndVerifyClientCert,
	})}
	svc := &testService{}
	backend := serve(t, backendIP, grpc.Creds(creds), func(s *grpc.Server) {
		testpb.RegisterTestServiceServer(s, svc)
		healthpb.RegisterHealthServer(s, health.NewServer())
	})

	withCert := &UpstreamTLS{
		CertPEM:      clientCert.certPEM,
		KeyPEM:       clientCert.keyPEM,
		TrustedCAPEM: ca.certPEM,
		ServerName:   serverName,
	}
	withoutCert := *withCert
	withoutCert.CertPEM, withoutCert.KeyPEM = nil, nil
	ngx := Start(t, Config{
		Listen: net.JoinHostPort(nginxIP, "0"),
		Locations: []Location{
			{Path: "/grpc.testing.TestService/", Backend: backend, Bind: nginxIP, TLS: withCert},
			// The health service goes to the same backend without nginx's
			// client certificate.
			{Path: "/grpc.health.v1.Health/", Backend: backend, Bind: nginxIP, TLS: &withoutCert},
		},
	})
	conn := dial(t, ngx.Addr)
	client := testpb.NewTestServiceClient(conn)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	t.Run("call succeeds with nginx's client certificate and source address", func(t *testing.T) {
		if _, err := client.EmptyCall(ctx, &testpb.Empty{}); err != nil {
			t.Fatalf("EmptyCall through nginx: %v", err)
		}
		p := svc.lastPeer()
		tlsInfo, ok := p.AuthInfo.(credentials.TLSInfo)
		if !ok || len(tlsInfo.State.PeerCertificates) == 0 {
			t.Fatalf("backend saw no client certificate (auth info %#v)", p.AuthInfo)
		}
		if cn := tlsInfo.State.PeerCertificates[0].Subject.CommonName; cn != clientCN {
			t.Errorf("backend saw client certificate CN %q, want %q", cn, clientCN)
		}
		if host, _, _ := net.SplitHostPort(p.Addr.String()); host != nginxIP {
			t.Errorf("backend saw peer %s, want it from %s (grpc_bind)", p.Addr, nginxIP)
		}
		if sni := tlsInfo.State.ServerName; sni != serverName {
			t.Errorf("backend saw SNI %q, want %q (grpc_ssl_server_name)", sni, serverName)
		}
	})

	t.Run("status passes through", func(t *testing.T) {
		_, err := client.UnaryCall(ctx, &testpb.SimpleRequest{
			ResponseStatus: &testpb.EchoStatus{Code: int32(codes.PermissionDenied), Message: "not for you"},
		})
		if s := status.Convert(err); s.Code() != codes.PermissionDenied || s.Message() != "not for you" {
			t.Fatalf("UnaryCall through nginx: %v, want PermissionDenied \"not for you\"", err)
		}
	})

	// This runs after calls that made TLS sessions with the client certificate
	// to the same backend address; it would pass if nginx resumed one of them.
	t.Run("no client certificate fails the backend's handshake", func(t *testing.T) {
		creds.reset()
		_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		// TLS 1.3: nginx's side of the handshake completes and it sends the
		// request; the backend, finding no client certificate, answers with a
		// "certificate required" alert, which nginx reads "while reading
		// response header from upstream" (logged at crit). It answers the
		// request with HTTP 502 Bad Gateway, an HTML page without grpc-status,
		// which grpc-go turns into Unavailable ("unexpected HTTP status code
		// received from server: 502 (Bad Gateway)").
		if s := status.Convert(err); s.Code() != codes.Unavailable || !strings.Contains(s.Message(), "502") {
			t.Fatalf("Health.Check through nginx without a client certificate: %v, want Unavailable from HTTP 502", err)
		}
		hsErr := creds.lastErr()
		if hsErr == nil || !strings.Contains(hsErr.Error(), "certificate") {
			t.Errorf("backend's handshake error: %v, want a missing client certificate", hsErr)
		}
		t.Logf("client got: %v", err)
		t.Logf("backend's handshake: %v", hsErr)
		t.Logf("nginx's error log:\n%s", grepLines(ngx.ErrorLog(), "upstream"))
	})

	t.Run("backend certificate is verified", func(t *testing.T) {
		wrongName := *withCert
		wrongName.ServerName = "reviews.bookstore.cluster.local"
		ngx := Start(t, Config{
			Listen:    net.JoinHostPort(nginxIP, "0"),
			Locations: []Location{{Backend: backend, Bind: nginxIP, TLS: &wrongName}},
		})
		_, err := testpb.NewTestServiceClient(dial(t, ngx.Addr)).EmptyCall(ctx, &testpb.Empty{})
		if s := status.Convert(err); s.Code() != codes.Unavailable || !strings.Contains(s.Message(), "502") {
			t.Fatalf("EmptyCall through nginx expecting another name: %v, want Unavailable from HTTP 502", err)
		}
		if log := ngx.ErrorLog(); !strings.Contains(log, "upstream SSL certificate does not match") {
			t.Errorf("nginx's error log does not show the name mismatch:\n%s", log)
		}
	})
}

// TestPlaintextBackend proxies with grpc:// to a backend without TLS.
func TestPlaintextBackend(t *testing.T) {
	backend := serve(t, backendIP, nil, func(s *grpc.Server) {
		healthpb.RegisterHealthServer(s, health.NewServer())
	})
	ngx := Start(t, Config{
		Listen:    net.JoinHostPort(nginxIP, "0"),
		Locations: []Location{{Backend: backend}},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := healthpb.NewHealthClient(dial(t, ngx.Addr)).Check(ctx, &healthpb.HealthCheckRequest{})
	if err != nil {
		t.Fatalf("Health.Check through nginx: %v", err)
	}
	if resp.Status != healthpb.HealthCheckResponse_SERVING {
		t.Errorf("health status %v, want SERVING", resp.Status)
	}
	// nginx logs a request once it has closed its stream, which may come
	// after the client has its answer.
	for !strings.Contains(ngx.AccessLog(), "upstream="+backend) {
		select {
		case <-ctx.Done():
			t.Fatalf("access log does not show the request to %s:\n%s", backend, ngx.AccessLog())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// testService answers EmptyCall and UnaryCall (with the status the request
// asks for) and remembers the last caller.
type testService struct {
	testpb.UnimplementedTestServiceServer
	mu   sync.Mutex
	peer *peer.Peer
}

func (s *testService) record(ctx context.Context) {
	p, _ := peer.FromContext(ctx)
	s.mu.Lock()
	s.peer = p
	s.mu.Unlock()
}

func (s *testService) lastPeer() *peer.Peer {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.peer == nil {
		return &peer.Peer{Addr: &net.TCPAddr{}}
	}
	return s.peer
}

func (s *testService) EmptyCall(ctx context.Context, _ *testpb.Empty) (*testpb.Empty, error) {
	s.record(ctx)
	return &testpb.Empty{}, nil
}

func (s *testService) UnaryCall(ctx context.Context, req *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	s.record(ctx)
	if st := req.GetResponseStatus(); st.GetCode() != 0 {
		return nil, status.Error(codes.Code(st.GetCode()), st.GetMessage())
	}
	return &testpb.SimpleResponse{Payload: req.GetPayload()}, nil
}

// recordingCreds remembers the last failed server handshake.
type recordingCreds struct {
	credentials.TransportCredentials
	mu  sync.Mutex
	err error
}

func (c *recordingCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		c.mu.Lock()
		c.err = err
		c.mu.Unlock()
	}
	return out, info, err
}

func (c *recordingCreds) reset() {
	c.mu.Lock()
	c.err = nil
	c.mu.Unlock()
}

func (c *recordingCreds) lastErr() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// serve runs a gRPC server on a free port of ip until the test ends and returns
// its address.
func serve(t *testing.T, ip string, opt grpc.ServerOption, register func(*grpc.Server)) string {
	t.Helper()
	lis, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		t.Fatal(err)
	}
	var opts []grpc.ServerOption
	if opt != nil {
		opts = append(opts, opt)
	}
	s := grpc.NewServer(opts...)
	register(s)
	go func() { _ = s.Serve(lis) }()
	t.Cleanup(s.Stop)
	return lis.Addr().String()
}

// dial connects to nginx with plaintext HTTP/2, as the ingress's clients do.
func dial(t *testing.T, addr string) *grpc.ClientConn {
	t.Helper()
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), grpc.WithNoProxy())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn
}

type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
	pool    *x509.CertPool
}

type issued struct{ certPEM, keyPEM []byte }

func newCA(t *testing.T) *testCA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "nginxtest root"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &testCA{cert: cert, key: key, certPEM: pemBlock("CERTIFICATE", der), pool: pool}
}

func (ca *testCA) issue(t *testing.T, cn string, dnsNames []string, uri string, usage x509.ExtKeyUsage) issued {
	t.Helper()
	key := newKey(t)
	u, err := url.Parse(uri)
	if err != nil {
		t.Fatal(err)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(1<<62))
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dnsNames,
		URIs:         []*url.URL{u},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{usage},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return issued{certPEM: pemBlock("CERTIFICATE", der), keyPEM: pemBlock("PRIVATE KEY", keyDER)}
}

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

func grepLines(text, substr string) string {
	var out []string
	for _, line := range strings.Split(text, "\n") {
		if strings.Contains(line, substr) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}
