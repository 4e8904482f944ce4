package main

import (
	"strings"
	"testing"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

func anyOf(t *testing.T, m proto.Message) *anypb.Any {
	t.Helper()
	a, err := anypb.New(m)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newTestProxy() *proxy {
	p := &proxy{}
	p.reset()
	return p
}

func TestFleetSubscribesToWhatClustersReferenceAndNACKsInvalidResources(t *testing.T) {
	f := &fleet{}
	p := newTestProxy()
	tlsCtx := &tlsv3.UpstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{
		TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{{Name: "service-cert:ns/sa"}},
	}}
	cluster := &clusterv3.Cluster{Name: "ns/svc|80", ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig: &clusterv3.Cluster_EdsClusterConfig{EdsConfig: &core.ConfigSource{ConfigSourceSpecifier: &core.ConfigSource_Ads{}}},
		TransportSocket:  &core.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &core.TransportSocket_TypedConfig{TypedConfig: anyOf(t, tlsCtx)}}}

	t.Run("a cluster makes the proxy ask for its endpoints and secrets, then ACK, then ask for listeners", func(t *testing.T) {
		reqs := f.sotw(p, &discovery.DiscoveryResponse{TypeUrl: resource.ClusterType, VersionInfo: "1", Nonce: "a",
			Resources: []*anypb.Any{anyOf(t, cluster)}})
		var got []string
		for _, r := range reqs {
			got = append(got, r.GetTypeUrl()+" "+r.GetVersionInfo()+" "+r.GetResponseNonce()+" "+strings.Join(r.GetResourceNames(), ","))
		}
		want := []string{
			resource.EndpointType + "   ns/svc|80",
			resource.SecretType + "   service-cert:ns/sa",
			resource.ClusterType + " 1 a ",
			resource.ListenerType + "   ",
		}
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("requests\n got %q\nwant %q", got, want)
		}
		if p.complete() {
			t.Error("complete without listeners, endpoints and secrets")
		}
	})

	t.Run("an invalid ClusterLoadAssignment is NACKed with the last accepted version and counted", func(t *testing.T) {
		reqs := f.sotw(p, &discovery.DiscoveryResponse{TypeUrl: resource.EndpointType, VersionInfo: "7", Nonce: "b",
			Resources: []*anypb.Any{anyOf(t, &endpointv3.ClusterLoadAssignment{})}})
		if len(reqs) != 1 || reqs[0].GetErrorDetail() == nil || reqs[0].GetVersionInfo() != "" || reqs[0].GetResponseNonce() != "b" {
			t.Fatalf("got %v, want one NACK of nonce b keeping no version", reqs)
		}
		if f.nacks.Load() != 1 {
			t.Errorf("nacks = %d, want 1", f.nacks.Load())
		}
	})

	t.Run("a valid one is held, its addresses noted for a marker", func(t *testing.T) {
		f.goal.Store(newGoal("10.250.0.1", func(p *proxy) bool { return p.markerSeen }))
		cla := &endpointv3.ClusterLoadAssignment{ClusterName: "ns/svc|80", Endpoints: []*endpointv3.LocalityLbEndpoints{{
			LbEndpoints: []*endpointv3.LbEndpoint{{HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{
				Address: &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{Address: "10.250.0.1",
					PortSpecifier: &core.SocketAddress_PortValue{PortValue: 8080}}}}}}}},
		}}}
		reqs := f.sotw(p, &discovery.DiscoveryResponse{TypeUrl: resource.EndpointType, VersionInfo: "8", Nonce: "c", Resources: []*anypb.Any{anyOf(t, cla)}})
		if len(reqs) != 1 || reqs[0].GetErrorDetail() != nil || reqs[0].GetVersionInfo() != "8" || strings.Join(reqs[0].GetResourceNames(), ",") != "ns/svc|80" {
			t.Fatalf("got %v, want an ACK of version 8 naming the cluster", reqs)
		}
		if p.metGoal(f.goal.Load()).IsZero() {
			t.Error("the marker address was not noted")
		}
	})
}
