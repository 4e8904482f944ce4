package envoy

import (
	"slices"
	"strconv"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"

	"github.com/weft-mesh/weft/catalog"
)

// A gateway proxy (catalog.Gateway): an Envoy listener per Gateway port,
// HTTP or TLS-terminating by the Gateway's certificates, routing by the
// attached HTTPRoutes (the GAMMA route code) to mesh Services over the
// same mTLS clusters a sidecar has, with the gateway's own certificate.

// GatewayListenerName names a gateway's listener on port: gateway.<port>.
func GatewayListenerName(port int32) string { return "gateway." + strconv.Itoa(int(port)) }

func gatewayRouteName(port int32) string { return "rds-gateway." + strconv.Itoa(int(port)) }

// GatewayCertSecretName names the SDS secret of a Gateway listener's
// certificateRef: gateway-cert:<ns>/<secret>. Its content is in the model
// (Resources.GatewaySecrets), not the CA's.
func GatewayCertSecretName(secret catalog.ObjectRef) string {
	return gatewayCertPrefix + secret.Namespace + "/" + secret.Name
}

const gatewayCertPrefix = "gateway-cert:"

// generateGateway builds a gateway proxy's resources. A proxy whose Gateway
// is gone (or not yet in the model) gets none: it serves nothing.
func generateGateway(g *gen) *Resources {
	g.plan = &plan{routeIndex: map[string]*routeConfig{}, clusterSeen: map[string]bool{}}
	gw := g.model.Gateway(g.proxy.Identity)
	r := &Resources{}
	if gw == nil {
		return r
	}
	ports := map[int32][]catalog.GatewayListener{}
	var order []int32
	for _, l := range gw.Listeners {
		if ports[l.Port] == nil {
			order = append(order, l.Port)
		}
		ports[l.Port] = append(ports[l.Port], l)
	}
	secrets := map[string]*tlsv3.Secret{}
	for _, port := range order {
		r.Listeners = append(r.Listeners, g.gatewayListener(port, ports[port]))
		for _, l := range ports[port] {
			g.planGatewayHost(port, l)
			for _, c := range l.Certificates {
				name := GatewayCertSecretName(c.Secret)
				secrets[name] = ServiceCertSecret(name, c.CertPEM, c.KeyPEM)
			}
		}
	}
	for _, s := range secrets {
		r.GatewaySecrets = append(r.GatewaySecrets, s)
	}
	r.Listeners = sortedByName(r.Listeners, (*listenerv3.Listener).GetName)
	r.Routes = sortedByName(g.routes(), (*routev3.RouteConfiguration).GetName)
	r.Clusters = sortedByName(g.clusters(), (*clusterv3.Cluster).GetName)
	r.Endpoints = sortedByName(g.endpoints(), (*endpointv3.ClusterLoadAssignment).GetClusterName)
	r.GatewaySecrets = sortedByName(r.GatewaySecrets, (*tlsv3.Secret).GetName)
	names := map[string]bool{}
	for _, sp := range g.plan.services {
		names[ServiceCertSecretName(g.proxy.Identity)] = true
		names[OutboundRootSecretName(sp.svc.ServiceRef)] = true
	}
	for n := range names {
		r.Secrets = append(r.Secrets, n)
	}
	slices.Sort(r.Secrets)
	return r
}

// planGatewayHost adds a Gateway listener's virtual hosts to its port's
// route configuration: one per hostname its routes name (within the
// listener's), and one for the listener's own hostname (any host without
// one) with the routes that name none. As Gateway API asks, a request is
// routed by the rules of its exact hostname first, then of a wildcard that
// takes it, then of the routes without hostnames, each in the catalog's
// order of precedence; a host no virtual host takes is answered 404.
func (g *gen) planGatewayHost(port int32, l catalog.GatewayListener) {
	var hosts []string
	for _, r := range l.Routes {
		for _, h := range r.Hostnames {
			if !slices.Contains(hosts, h) {
				hosts = append(hosts, h)
			}
		}
	}
	// Exact hostnames first, then wildcards, then the listener's own.
	slices.SortFunc(hosts, func(a, b string) int {
		wa, wb := strings.HasPrefix(a, "*"), strings.HasPrefix(b, "*")
		if wa != wb {
			if wa {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})
	for _, h := range hosts {
		g.addVirtualHost(gatewayRouteName(port), g.gatewayVirtualHost(l.Name+"|"+h, l, h), withPort([]string{h}, portString(port)))
	}
	domains := []string{"*"}
	if l.Hostname != "" {
		domains = withPort([]string{l.Hostname}, portString(port))
	}
	// Without a route, the virtual host answers 404, as Gateway API asks.
	g.addVirtualHost(gatewayRouteName(port), g.gatewayVirtualHost(l.Name, l, ""), domains)
}

// gatewayVirtualHost routes host ("" for the listener's own): the rules
// naming it exactly, then by a wildcard that takes it, then those naming
// no hostname.
func (g *gen) gatewayVirtualHost(name string, l catalog.GatewayListener, host string) *vhost {
	vh := &vhost{name: name}
	rank := func(r *catalog.RouteRule) int {
		switch {
		case len(r.Hostnames) == 0:
			return 2
		case host != "" && slices.Contains(r.Hostnames, host):
			return 0
		case host != "" && !strings.HasPrefix(host, "*") && slices.ContainsFunc(r.Hostnames, func(w string) bool {
			suffix, ok := strings.CutPrefix(w, "*")
			return ok && strings.HasSuffix(host, suffix)
		}):
			return 1
		}
		return -1 // not this host's
	}
	for want := 0; want <= 2; want++ {
		for i := range l.Routes {
			r := &l.Routes[i]
			if rank(r) != want {
				continue
			}
			var ts []target
			for _, b := range g.gammaTargets(*r, catalog.ServicePort{}) {
				ts = append(ts, target{cluster: g.serviceCluster(b.svc, b.port), weight: b.weight})
			}
			vh.routes = append(vh.routes, route{match: gammaMatch(r.Match, false), targets: scaleWeights(ts), gamma: r})
		}
	}
	return vh
}

// gatewayListener is the listener of one Gateway port: plain HTTP, or a
// filter chain per HTTPS listener (by SNI when it has a hostname) that
// terminates TLS with the listener's certificates. Every chain runs an HTTP
// connection manager on the port's route configuration.
func (g *gen) gatewayListener(port int32, ls []catalog.GatewayListener) *listenerv3.Listener {
	name := GatewayListenerName(port)
	l := &listenerv3.Listener{
		Name:             name,
		Address:          socketAddress("0.0.0.0", uint32(port)),
		TrafficDirection: corev3.TrafficDirection_INBOUND,
	}
	hcm := g.hcm(hcmOptions{statPrefix: name, rds: gatewayRouteName(port), safePaths: true, meshTraffic: true, edge: true})
	if ls[0].Protocol != catalog.ProtocolHTTPS {
		l.FilterChains = []*listenerv3.FilterChain{{Name: name + "|http", Filters: []*listenerv3.Filter{hcm}}}
		return l
	}
	needSNI := false
	for _, gl := range ls {
		fc := &listenerv3.FilterChain{Name: name + "|" + gl.Name, Filters: []*listenerv3.Filter{hcm}}
		if gl.Hostname != "" {
			fc.FilterChainMatch = &listenerv3.FilterChainMatch{ServerNames: []string{gl.Hostname}}
			needSNI = true
		}
		ctx := &tlsv3.DownstreamTlsContext{CommonTlsContext: &tlsv3.CommonTlsContext{AlpnProtocols: []string{"h2", "http/1.1"}}}
		for _, c := range gl.Certificates {
			ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs = append(ctx.CommonTlsContext.TlsCertificateSdsSecretConfigs,
				sdsConfig(GatewayCertSecretName(c.Secret)))
		}
		fc.TransportSocket = g.transportSocket(ctx)
		l.FilterChains = append(l.FilterChains, fc)
	}
	if needSNI {
		l.ListenerFilters = []*listenerv3.ListenerFilter{g.tlsInspector()}
	}
	return l
}
