package envoy

import (
	"net/netip"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	rbacv3 "github.com/envoyproxy/go-control-plane/envoy/config/rbac/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/catalog"
)

// ingressChains admit an ingress controller, outside the mesh, to local
// Service ports that IngressBackends name:
//   - https: TLS with the proxy's certificate; the client's certificate must
//     chain to the mesh roots (unless skipClientCertValidation) and, when the
//     rule names AuthenticatedPrincipals, carry one of them (RBAC);
//   - http, grpc and tcp: plaintext, only from the rule's source addresses; a
//     plaintext rule without source addresses would admit anyone, so it is
//     left out.
//
// Source addresses, when the rule has some, restrict the chain itself
// (filter_chain_match.source_prefix_ranges); the rule's HTTP matches narrow
// the admitted requests.
func (g *gen) ingressChains(cs *chainSet) {
	for _, r := range g.view.Ingress {
		g.ingressChain(cs, r)
	}
}

func (g *gen) ingressChain(cs *chainSet, r *catalog.IngressRule) {
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
	name := "ingress|" + ClusterName(r.Backend, r.Port.Port) + "|" + string(r.Protocol)
	fc := &listenerv3.FilterChain{
		Name: name,
		FilterChainMatch: &listenerv3.FilterChainMatch{
			DestinationPort:   wrapperspb.UInt32(tp),
			ServerNames:       sni,
			TransportProtocol: transport,
		},
	}
	for _, p := range r.SourceIPRanges {
		fc.FilterChainMatch.SourcePrefixRanges = append(fc.FilterChainMatch.SourcePrefixRanges, cidr(p))
	}
	verify := tls && !r.SkipClientCertValidation
	if tls {
		fc.TransportSocket = g.downstreamTLS(verify)
	}
	principals := []*rbacv3.Principal{anyPrincipal()}
	switch {
	case verify && len(r.SourcePrincipals) > 0:
		principals = nil
		for _, p := range r.SourcePrincipals {
			principals = append(principals, principalName(p))
		}
	case verify:
		principals = []*rbacv3.Principal{anyAuthenticated()}
	}
	local := g.localCluster(r.Backend, r.Port, tp)
	var uts *catalog.UpstreamTrafficSetting
	if s := g.model.Service(r.Backend); s != nil {
		uts = s.UpstreamTrafficSetting
	}
	pol := policies{}
	if r.Protocol != catalog.ProtocolTCP && r.Port.Protocol.IsHTTP() {
		perms := []*rbacv3.Permission{anyPermission()}
		if len(r.HTTPMatches) > 0 {
			perms = httpPermissions(r.HTTPMatches)
		}
		pol.add(r.Policy.Namespace+"/"+r.Policy.Name, &rbacv3.Policy{Principals: principals, Permissions: perms})
		fc.Filters = []*listenerv3.Filter{g.inboundHCM(name, r.Backend, r.Port, local, pol, uts)}
	} else {
		pol.add(r.Policy.Namespace+"/"+r.Policy.Name, &rbacv3.Policy{Principals: principals, Permissions: []*rbacv3.Permission{anyPermission()}})
		fc.Filters = g.inboundTCP(name, local, pol, uts)
	}
	cs.add(fc)
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
