package envoy

import (
	"net/netip"
	"slices"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/weft-mesh/weft/catalog"
)

// planInbound admits mesh clients to one local Service port: a chain matched
// by the pod's port and the SNI clients set (the Service's DNS name),
// terminating mTLS.
func (g *gen) planInbound(cs *chainSet, in catalog.InboundPort) {
	tp, ok := g.targetPort(in.Service, in.Port)
	if !ok {
		return
	}
	sni := []string{in.Service.FQDN(g.model.Settings.ClusterDomain)}
	if !cs.claim(matchKey(tp, sni, "tls", nil)) {
		return
	}
	name := "inbound|" + ClusterName(in.Service, in.Port.Port)
	local := &localChain{tls: true, verify: true, mesh: &in, cluster: g.localCluster(in.Service, in.Port, tp), uts: in.UpstreamTrafficSetting}
	if in.Port.Protocol.IsHTTP() {
		local.rds = g.planInboundRoutes(in.Service, in.Port, local.cluster, local.uts)
	}
	cs.add(&chain{name: name, port: tp, serverNames: sni, transport: "tls", local: local})
}

// planIngress admits an ingress controller, outside the mesh, to a local
// Service port an IngressBackend names:
//   - https: TLS with the proxy's certificate; the client's certificate must
//     chain to the mesh roots (unless skipClientCertValidation);
//   - http, grpc and tcp: plaintext, only from the rule's source addresses; a
//     plaintext rule without source addresses would admit anyone, so it is
//     left out.
//
// Source addresses, when the rule has some, restrict the chain itself
// (filter_chain_match.source_prefix_ranges).
func (g *gen) planIngress(cs *chainSet, r *catalog.IngressRule) {
	tp, ok := g.targetPort(r.Backend, r.Port)
	if !ok {
		return
	}
	tls := r.Protocol == catalog.ProtocolHTTPS
	if !tls && len(r.SourceIPRanges) == 0 {
		return
	}
	var sni []string
	for _, h := range r.SNIHosts {
		if validServerName(h) {
			sni = append(sni, h)
		}
	}
	if len(sni) < len(r.SNIHosts) {
		return // a name Envoy refuses: matching fewer names would change who is admitted
	}
	transport := "raw_buffer"
	if tls {
		transport = "tls"
	}
	// Envoy compares chains value by value: claim each server name and
	// source range, so that no two rules share one.
	var keys []string
	for _, name := range orAny(sni) {
		for _, src := range orAnyPrefix(r.SourceIPRanges) {
			keys = append(keys, matchKey(tp, name, transport, src))
		}
	}
	if !cs.claimAll(keys) {
		return
	}
	local := &localChain{tls: tls, verify: tls && !r.SkipClientCertValidation, ingress: r, cluster: g.localCluster(r.Backend, r.Port, tp)}
	if s := g.model.Service(r.Backend); s != nil {
		local.uts = s.UpstreamTrafficSetting
	}
	if r.Protocol != catalog.ProtocolTCP && r.Port.Protocol.IsHTTP() {
		local.rds = g.planInboundRoutes(r.Backend, r.Port, local.cluster, local.uts)
	}
	cs.add(&chain{
		name:        "ingress|" + ClusterName(r.Backend, r.Port.Port) + "|" + string(r.Protocol),
		port:        tp,
		serverNames: sni,
		transport:   transport,
		sources:     r.SourceIPRanges,
		local:       local,
	})
}

// planInboundRoutes plans (once) the route configuration of a local Service
// port: the UpstreamTrafficSetting's per-path rate limits first, then
// everything to the local app.
func (g *gen) planInboundRoutes(svc catalog.ServiceRef, port catalog.ServicePort, cluster string, uts *catalog.UpstreamTrafficSetting) string {
	name := inboundRouteName(svc, port.Port)
	if g.plan.routeIndex[name] != nil {
		return name
	}
	vh := &vhost{name: "inbound|" + ClusterName(svc, port.Port)}
	if uts != nil {
		for _, hr := range uts.RouteRateLimits {
			if !validRegex(hr.PathRegex) {
				continue
			}
			rl := g.httpRateLimit(&hr.RateLimit, "inbound|"+ClusterName(svc, port.Port)+"|"+hr.PathRegex)
			if rl == nil {
				continue
			}
			vh.routes = append(vh.routes, route{
				match:     &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_SafeRegex{SafeRegex: regex(hr.PathRegex)}},
				targets:   []target{{cluster: cluster}},
				rateLimit: rl,
			})
		}
	}
	vh.routes = append(vh.routes, route{targets: []target{{cluster: cluster}}})
	g.addVirtualHost(name, vh, []string{"*"})
	return name
}

// targetPort is the pod's port behind a Service port: the targetPort number,
// or for a named targetPort the number this pod's endpoint (by the proxy's
// IPs, else any endpoint of the proxy's identity) gives it.
func (g *gen) targetPort(svc catalog.ServiceRef, port catalog.ServicePort) (uint32, bool) {
	if port.TargetPort > 0 && port.TargetPort <= 65535 {
		return uint32(port.TargetPort), true
	}
	s := g.model.Service(svc)
	if s == nil {
		return 0, false
	}
	var byIdentity int32
	for _, ep := range s.Endpoints {
		if ep.PortName != port.Name || ep.Port < 1 || ep.Port > 65535 {
			continue
		}
		if slices.Contains(g.proxy.IPs, ep.IP) {
			return uint32(ep.Port), true
		}
		if byIdentity == 0 && ep.Identity == g.view.Identity {
			byIdentity = ep.Port
		}
	}
	return uint32(byIdentity), byIdentity != 0
}

func orAny(names []string) [][]string {
	if len(names) == 0 {
		return [][]string{nil}
	}
	out := make([][]string, len(names))
	for i, n := range names {
		out[i] = []string{n}
	}
	return out
}

func orAnyPrefix(ps []netip.Prefix) [][]netip.Prefix {
	if len(ps) == 0 {
		return [][]netip.Prefix{nil}
	}
	out := make([][]netip.Prefix, len(ps))
	for i, p := range ps {
		out[i] = []netip.Prefix{p}
	}
	return out
}
