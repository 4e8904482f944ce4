package xds

import (
	"crypto/tls"
	"crypto/x509"
	"time"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
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

// NewGRPCServer returns a gRPC server speaking mTLS with the ADS service of s
// registered (state-of-the-world and delta on the same service). It bounds the
// concurrent streams of a connection and the size of a request by the
// Options' MaxStreamsPerConnection and MaxMessageBytes.
func (s *Server) NewGRPCServer(tlsConfig *tls.Config) *grpc.Server {
	g := grpc.NewServer(
		grpc.Creds(credentials.NewTLS(tlsConfig)),
		grpc.MaxConcurrentStreams(s.maxStreamsPerConnection),
		grpc.MaxRecvMsgSize(s.maxMessageBytes),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 30 * time.Second, Timeout: 10 * time.Second}),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 10 * time.Second, PermitWithoutStream: true}),
	)
	discovery.RegisterAggregatedDiscoveryServiceServer(g, s.xds)
	return g
}
