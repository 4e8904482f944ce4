package envoy

import (
	"fmt"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/weft-mesh/weft/pkg/healthprobe"
)

// probeListeners forward kubelet's health probes, which the injector moved to
// 15901-15904, to the app in plain text on 127.0.0.1: the app's own ports
// require mTLS, which kubelet does not speak. The redirection rules leave these
// ports alone. HTTP probes are routed by their rewritten path (one kind may
// carry several containers' probes); HTTPS and TCP probes pass through as TCP.
func (g *gen) probeListeners() []*listenerv3.Listener {
	byPort := map[int32][]healthprobe.Probe{}
	var ports []int32
	for _, p := range g.view.HealthProbes {
		if _, ok := byPort[p.Port]; !ok {
			ports = append(ports, p.Port)
		}
		byPort[p.Port] = append(byPort[p.Port], p)
	}
	var out []*listenerv3.Listener
	for _, port := range ports {
		probes := byPort[port]
		name := fmt.Sprintf("health-probe-%d", port)
		var filter *listenerv3.Filter
		if probes[0].Original.Scheme == "HTTP" {
			vh := &routev3.VirtualHost{Name: name, Domains: []string{"*"}}
			for _, p := range probes {
				if p.Original.Scheme != "HTTP" {
					continue
				}
				path := p.Original.Path
				if path == "" {
					path = "/"
				}
				vh.Routes = append(vh.Routes, &routev3.Route{
					Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: p.Path}},
					Action: &routev3.Route_Route{Route: &routev3.RouteAction{
						ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: g.probeCluster(p.Original.Port)},
						PrefixRewrite:    path,
					}},
				})
			}
			filter = g.hcm(hcmOptions{statPrefix: name, routes: &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{vh}}})
		} else {
			filter = g.tcpProxy(name, []target{{cluster: g.probeCluster(probes[0].Original.Port)}})
		}
		out = append(out, &listenerv3.Listener{
			Name:             name,
			Address:          socketAddress("0.0.0.0", uint32(port)),
			TrafficDirection: corev3.TrafficDirection_INBOUND,
			FilterChains:     []*listenerv3.FilterChain{{Name: name, Filters: []*listenerv3.Filter{filter}}},
		})
	}
	return out
}

// probeCluster reaches the app's probe port on 127.0.0.1.
func (g *gen) probeCluster(port int32) string {
	name := fmt.Sprintf("health-probe|%d", port)
	if _, done := g.clusters[name]; !done {
		g.clusters[name] = staticCluster(name, "127.0.0.1", uint32(port))
	}
	return name
}
