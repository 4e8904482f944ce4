package xds

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"strings"
	"testing"

	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"google.golang.org/grpc"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/identity"
)

// brokenStream is a server stream whose sends fail, as they do once the
// client's connection is gone.
type brokenStream struct{ grpc.ServerStream }

func (brokenStream) Context() context.Context { return context.Background() }
func (brokenStream) SendMsg(any) error        { return errors.New("transport is closing") }

func TestAFailedSendIsCountedAsOSMDid(t *testing.T) {
	reg := prometheus.NewRegistry()
	s, err := NewServer(context.Background(), Options{
		Config:       func(context.Context, ca.Proxy) (Resources, error) { return nil, nil },
		Authenticate: func([]*x509.Certificate) (ca.Proxy, error) { return ca.Proxy{}, errors.New("unused") },
		TrustDomain:  "cluster.local", Registerer: reg,
	})
	if err != nil {
		t.Fatal(err)
	}
	p := ca.Proxy{ID: "0b6c1a64-93e5-4c4f-9a57-4b6f3c1f8e21", Kind: ca.ProxySidecar, Identity: identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}}
	// The handler plays go-control-plane: the stream's proxy is known once
	// OnStreamOpen authenticated it, then a response is sent.
	err = s.countSends(nil, brokenStream{}, nil, func(_ any, ss grpc.ServerStream) error {
		ss.Context().Value(streamProxyKey{}).(*streamProxy).set(p)
		return ss.SendMsg(&discovery.DiscoveryResponse{TypeUrl: resource.ClusterType})
	})
	if err == nil {
		t.Fatal("the send's error was not returned")
	}
	want := fmt.Sprintf(`# HELP osm_proxy_response_send_error_count xDS responses that could not be sent to connected proxies (OSM's name).
# TYPE osm_proxy_response_send_error_count counter
osm_proxy_response_send_error_count{identity="bookstore.bookstore.cluster.local",proxy_uuid=%q,type=%q} 1
`, p.ID, resource.ClusterType)
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "osm_proxy_response_send_error_count", "osm_proxy_response_send_success_count"); err != nil {
		t.Error(err)
	}
}
