package envoy

import (
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
)

// prometheusListener serves Envoy's statistics to Prometheus on 15010:
// /stats/prometheus (the path the injector's scrape annotation names, as OSM's
// did) and /metrics are the admin endpoint's /stats/prometheus; nothing else of
// the admin endpoint is exposed. Every proxy has the same (see fixed).
func (g *gen) prometheusListener() *listenerv3.Listener {
	var statsRoutes []*routev3.Route
	for _, path := range []string{"/stats/prometheus", "/metrics"} {
		statsRoutes = append(statsRoutes, &routev3.Route{
			Match: &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Path{Path: path}},
			Action: &routev3.Route_Route{Route: &routev3.RouteAction{
				ClusterSpecifier: &routev3.RouteAction_Cluster{Cluster: MetricsClusterName},
				PrefixRewrite:    "/stats/prometheus",
			}},
		})
	}
	routes := &routev3.RouteConfiguration{
		Name: "prometheus-route",
		VirtualHosts: []*routev3.VirtualHost{{
			Name:    "prometheus",
			Domains: []string{"*"},
			Routes:  statsRoutes,
		}},
	}
	return &listenerv3.Listener{
		Name:             PrometheusListenerName,
		Address:          socketAddress("0.0.0.0", PrometheusListenerPort),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
		FilterChains: []*listenerv3.FilterChain{{
			Name:    PrometheusListenerName,
			Filters: []*listenerv3.Filter{g.hcm(hcmOptions{statPrefix: PrometheusListenerName, routes: routes})},
		}},
	}
}
