package envoy

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// probeListeners forward kubelet's health probes, which the injector moved to
// 15901-15904, to the app in plain text on 127.0.0.1 (planProbes): the app's
// own ports require mTLS, which kubelet does not speak. The redirection rules
// leave these ports alone.
func (g *gen) probeListeners() []*listenerv3.Listener {
	var out []*listenerv3.Listener
	for _, pl := range g.plan.probes {
		name := fmt.Sprintf("health-probe-%d", pl.port)
		var filter *listenerv3.Filter
		if pl.tcp == "" {
			vh := &routev3.VirtualHost{Name: name, Domains: []string{"*"}}
			for _, r := range pl.routes {
				vh.Routes = append(vh.Routes, &routev3.Route{
					Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: r.path}},
					Action: &routev3.Route_Route{Route: &routev3.RouteAction{
						ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: r.cluster},
						PrefixRewrite:    r.rewrite,
					}},
				})
			}
			filter = g.hcm(hcmOptions{statPrefix: name, routes: &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{vh}}})
		} else {
			filter = g.tcpProxy(name, []target{{cluster: pl.tcp}}, false)
		}
		out = append(out, &listenerv3.Listener{
			Name:             name,
			Address:          socketAddress("0.0.0.0", uint32(pl.port)),
			TrafficDirection: corev3.TrafficDirection_INBOUND,
			FilterChains:     []*listenerv3.FilterChain{{Name: name, Filters: []*listenerv3.Filter{filter}}},
		})
	}
	return out
}
