package xds_test

import (
	"context"
	"crypto/tls"
	"testing"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/uuid"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/identity"
)

// A proxy reconnecting (a reconnect storm after weftd's connections drop)
// resumes its TLS session: no certificate exchange, no signature, and its
// stream is still authenticated from the chain the first handshake verified.
// TLSConfig's per-connection configs share the listener's ticket keys.
func TestAReconnectingProxyResumesItsTLSSession(t *testing.T) {
	m := newMesh(t)
	p := ca.Proxy{ID: uuid.NewString(), Kind: ca.ProxySidecar, Identity: identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}}
	cert, err := m.ca.ProxyCertificate(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(cert.CertChainPEM, cert.PrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: m.ca.BundlePool(), ServerName: "weftd.osm-system.svc",
		MinVersion: tls.VersionTLS12, ClientSessionCache: tls.NewLRUClientSessionCache(4)}

	for i, wantResumed := range []bool{false, true} {
		c := m.dial(p, cfg)
		s := c.sotw()
		c.request(s, resource.ClusterType, nil, nil, "")
		if resp := recv(t, s); len(resp.GetResources()) == 0 {
			t.Fatalf("connection %d: no clusters", i)
		}
		info, ok := streamTLS(s)
		if !ok {
			t.Fatalf("connection %d: no TLS state", i)
		}
		if info.State.DidResume != wantResumed {
			t.Errorf("connection %d: resumed = %v, want %v", i, info.State.DidResume, wantResumed)
		}
		c.conn.Close()
	}
}

func streamTLS(s *adsStream) (credentials.TLSInfo, bool) {
	pr, ok := peer.FromContext(s.stream.Context())
	if !ok {
		return credentials.TLSInfo{}, false
	}
	info, ok := pr.AuthInfo.(credentials.TLSInfo)
	return info, ok
}
