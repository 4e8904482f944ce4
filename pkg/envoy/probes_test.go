package envoy_test

import (
	"testing"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"

	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
)

func TestProbeListenersForwardKubeletToTheApp(t *testing.T) {
	m := loadModel(t, "probes.yaml")
	res, err := envoy.Generate(m, envoy.Proxy{Identity: identity.Identity{Namespace: "shop", ServiceAccount: "web"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := res.Validate(); err != nil {
		t.Fatal(err)
	}
	listeners := map[string]bool{}
	for _, l := range res.Listeners {
		listeners[l.GetName()] = true
		switch l.GetName() {
		case "health-probe-15902":
			var hcm hcmv3.HttpConnectionManager
			if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&hcm); err != nil {
				t.Fatal(err)
			}
			route := hcm.GetRouteConfig().GetVirtualHosts()[0].GetRoutes()[0]
			if route.GetMatch().GetPath() != "/osm-readiness-probe" || route.GetRoute().GetCluster() != "health-probe|8080" ||
				route.GetRoute().GetPrefixRewrite() != "/ready" {
				t.Errorf("readiness route = %v, want /osm-readiness-probe to 127.0.0.1:8080/ready", route)
			}
		case "health-probe-15904":
			var tcp tcpv3.TcpProxy
			if err := l.GetFilterChains()[0].GetFilters()[0].GetTypedConfig().UnmarshalTo(&tcp); err != nil {
				t.Fatal(err)
			}
			if tcp.GetCluster() != "health-probe|8080" {
				t.Errorf("liveness goes to %q, want health-probe|8080", tcp.GetCluster())
			}
		}
	}
	if !listeners["health-probe-15902"] || !listeners["health-probe-15904"] {
		t.Errorf("listeners %v lack the probe listeners", listeners)
	}
}
