package envoy_test

import (
	"slices"
	"strings"
	"testing"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// curlMesh is a meshed client with egress passthrough off, so that only
// Egress policies let it out.
const curlMesh = `
apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec: {traffic: {enableEgress: false, enablePermissiveTrafficPolicyMode: false}}
---
apiVersion: v1
kind: Namespace
metadata: {name: curl, labels: {openservicemesh.io/monitored-by: osm}}
---
apiVersion: v1
kind: Pod
metadata: {name: curl-0, namespace: curl}
spec: {serviceAccountName: curl, containers: [{name: curl, image: curl}]}
status: {podIP: 10.244.5.10}
`

func egressPolicy(name, spec string) string {
	return "\n---\n" + `{apiVersion: policy.openservicemesh.io/v1alpha1, kind: Egress, metadata: {name: ` + name + `, namespace: curl},
  spec: {sources: [{kind: ServiceAccount, name: curl, namespace: curl}], ` + spec + `}}`
}

// TestEgressPortsForAnyDestination: as OSM's egress demo has it, an Egress
// port that names no host or IP range to match by admits any destination on
// that port (a chain matched by the port alone, to the original
// destination), and a tcp-server-first port is never held by the TLS
// inspector, which would wait for the client to speak first.
func TestEgressPortsForAnyDestination(t *testing.T) {
	for _, tt := range []struct {
		name     string
		policies string
		// chains are the egress chains' names, each with its port and
		// whether it matches server names or prefixes.
		chains []egressChain
		// inspectorOff are the ports the TLS inspector skips; nil when there
		// is no inspector or it runs on every port.
		inspectorOff []int32
	}{
		{
			name:     "a tcp port without hosts or IP ranges admits any destination on it",
			policies: egressPolicy("tcp-443", `ports: [{number: 443, protocol: tcp}]`),
			chains:   []egressChain{{"egress|curl/tcp-443|443", 443, false}},
		},
		{
			name:     "an https port without hosts or IP ranges admits any destination on it",
			policies: egressPolicy("https-8443", `ports: [{number: 8443, protocol: https}]`),
			chains:   []egressChain{{"egress|curl/https-8443|8443", 8443, false}},
		},
		{
			name: "tcp-server-first ports, open or by IP range, are kept from the TLS inspector an https host brings",
			policies: egressPolicy("mysql", `ports: [{number: 3306, protocol: tcp-server-first}]`) +
				egressPolicy("postgres", `ipAddresses: [203.0.113.0/24], ports: [{number: 5432, protocol: tcp-server-first}]`) +
				egressPolicy("httpbin", `hosts: [httpbin.org], ports: [{number: 443, protocol: https}]`),
			chains: []egressChain{
				{"egress|httpbin.org:443", 443, true},
				{"egress|curl/mysql|3306", 3306, false},
				{"egress|curl/postgres|5432", 5432, true},
			},
			inspectorOff: []int32{3306, 5432},
		},
		{
			name: "a port open to any destination and an https host share the port",
			policies: egressPolicy("tcp-443", `ports: [{number: 443, protocol: tcp}]`) +
				egressPolicy("httpbin", `hosts: [httpbin.org], ports: [{number: 443, protocol: https}]`),
			chains: []egressChain{
				{"egress|httpbin.org:443", 443, true},
				{"egress|curl/tcp-443|443", 443, false},
			},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			objs, rejected := k8s.DecodeObjects([]byte(curlMesh + tt.policies))
			if len(rejected) > 0 {
				t.Fatalf("not read: %+v", rejected)
			}
			m := catalog.Build(k8s.NewState(objs, k8s.DefaultOptions(), nil), mesh.Defaults())
			for _, p := range m.Problems {
				t.Errorf("problem: %s", p)
			}
			r, err := envoy.Generate(m, envoy.Proxy{Identity: identity.Identity{Namespace: "curl", ServiceAccount: "curl"}})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.Validate(); err != nil {
				t.Fatalf("generated resources do not validate:\n%v", err)
			}
			l := listener(t, r, envoy.OutboundListenerName)
			var got []egressChain
			for _, fc := range l.GetFilterChains() {
				if !strings.HasPrefix(fc.GetName(), "egress|") {
					continue
				}
				m := fc.GetFilterChainMatch()
				got = append(got, egressChain{fc.GetName(), int32(m.GetDestinationPort().GetValue()), len(m.GetServerNames())+len(m.GetPrefixRanges()) > 0})
				proxy := unpack[*tcpproxyv3.TcpProxy](t, fc.GetFilters()[0].GetTypedConfig())
				if strings.HasPrefix(fc.GetName(), "egress|curl/") && proxy.GetCluster() != envoy.PassthroughClusterName {
					t.Errorf("%s goes to %s, want the original destination", fc.GetName(), proxy.GetCluster())
				}
			}
			if !slices.Equal(got, tt.chains) {
				t.Errorf("egress chains = %v, want %v", got, tt.chains)
			}
			if off := inspectorOff(t, l); !slices.Equal(off, tt.inspectorOff) {
				t.Errorf("TLS inspector off on ports %v, want %v", off, tt.inspectorOff)
			}
		})
	}
}

type egressChain struct {
	name    string
	port    int32
	narrows bool // by server name or destination prefix
}

// inspectorOff lists the destination ports the TLS inspector of l is
// disabled on.
func inspectorOff(t *testing.T, l *listenerv3.Listener) []int32 {
	t.Helper()
	var out []int32
	for _, f := range l.GetListenerFilters() {
		if f.GetName() != "envoy.filters.listener.tls_inspector" {
			continue
		}
		if !l.GetContinueOnListenerFiltersTimeout() {
			t.Error("the listener with a TLS inspector does not continue when it times out")
		}
		d := f.GetFilterDisabled()
		rules := []*listenerv3.ListenerFilterChainMatchPredicate{d}
		if d.GetOrMatch() != nil {
			rules = d.GetOrMatch().GetRules()
		}
		for _, r := range rules {
			if pr := r.GetDestinationPortRange(); pr != nil {
				if pr.GetEnd() != pr.GetStart()+1 {
					t.Errorf("port range %v is more than one port", pr)
				}
				out = append(out, pr.GetStart())
			}
		}
	}
	return out
}
