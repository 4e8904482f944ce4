package xds

import (
	"bytes"
	"testing"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/types/known/durationpb"
)

func TestWireFormsMarshalAsTheirResources(t *testing.T) {
	addr := &core.Address{Address: &core.Address_SocketAddress{SocketAddress: &core.SocketAddress{Address: "10.0.0.1", PortSpecifier: &core.SocketAddress_PortValue{PortValue: 80}}}}
	for name, r := range map[string]types.Resource{
		"a cluster": &cluster.Cluster{Name: "bookstore", ConnectTimeout: durationpb.New(1e9),
			ClusterDiscoveryType: &cluster.Cluster_Type{Type: cluster.Cluster_EDS}},
		"a listener":  &listener.Listener{Name: "outbound", Address: addr, FilterChains: []*listener.FilterChain{{Name: "a"}, {Name: "b"}}},
		"endpoints":   &endpoint.ClusterLoadAssignment{ClusterName: "bookstore", Endpoints: []*endpoint.LocalityLbEndpoints{{LbEndpoints: []*endpoint.LbEndpoint{{HostIdentifier: &endpoint.LbEndpoint_Endpoint{Endpoint: &endpoint.Endpoint{Address: addr}}}}}}},
		"a secret":    &tlsv3.Secret{Name: "service-cert:ns/sa", Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{CertificateChain: &core.DataSource{Specifier: &core.DataSource_InlineBytes{InlineBytes: []byte("pem")}}}}},
		"no name":     &cluster.Cluster{ConnectTimeout: durationpb.New(1e9)},
		"only a name": &cluster.Cluster{Name: "bare"},
	} {
		t.Run(name, func(t *testing.T) {
			want, err := cachev3.MarshalResource(r)
			if err != nil {
				t.Fatal(err)
			}
			w, err := newWire(r)
			if err != nil {
				t.Fatal(err)
			}
			got, err := cachev3.MarshalResource(w.shadow)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) || !bytes.Equal(w.bytes, want) {
				t.Errorf("the wire form marshals to\n%x\nwant\n%x", got, want)
			}
			if g, w := cachev3.GetResourceName(w.shadow), cachev3.GetResourceName(r); g != w {
				t.Errorf("the wire form is named %q, want %q", g, w)
			}
		})
	}
}

// Proxies given the same slices (one identity), or slices holding the same
// resources (what pkg/envoy shares across identities), are served the same
// wire forms: a resource is marshalled once, not once per proxy.
func TestProxiesShareWireForms(t *testing.T) {
	shared := &cluster.Cluster{Name: "shared", ConnectTimeout: durationpb.New(1e9)}
	own := &cluster.Cluster{Name: "own"}
	identityA := Resources{resource.ClusterType: {shared, own}}
	identityB := Resources{resource.ClusterType: {shared}}
	served := func(memo *versionMemo, r Resources, name string) types.Resource {
		t.Helper()
		v, err := version(r, memo)
		if err != nil {
			t.Fatal(err)
		}
		snap, err := v.snapshot()
		if err != nil {
			t.Fatal(err)
		}
		return snap.GetResources(resource.ClusterType)[name]
	}

	memo := (*versionMemo)(nil).next()
	first := served(memo, identityA, "shared")
	if first == types.Resource(shared) {
		t.Fatal("the cache is handed the generator's message, which it would marshal per proxy")
	}
	if got := served(memo, identityA, "shared"); got != first {
		t.Error("a second proxy of the identity got another wire form")
	}
	if got := served(memo, identityB, "shared"); got != first {
		t.Error("another identity's slice got another wire form of a shared resource")
	}
	next := memo.next()
	if got := served(next, identityB, "shared"); got != first {
		t.Error("the next Push's memo did not reuse the previous one's wire form")
	}
	if got := served(next.next().next(), identityB, "shared"); got == first {
		t.Error("a memo two generations old is still held")
	}

	// Versioning a slice already seen allocates no wire form.
	if allocs := testing.AllocsPerRun(100, func() { _, _ = version(identityA, next) }); allocs > 10 {
		t.Errorf("versioning a memoized slice allocates %.0f times", allocs)
	}
}
