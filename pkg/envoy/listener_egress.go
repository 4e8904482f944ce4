package envoy

import (
	"slices"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/catalog"
)

// egressChains add the proxy's Egress rules to the outbound listener:
//   - http hosts: a chain per port through the HTTP connection manager and
//     route configuration rds-egress.<port>, a virtual host per host;
//   - https hosts: a chain per port and host, matched by SNI, through
//     tcp_proxy (TLS passes through);
//   - IP ranges, whatever the protocol: a chain per port matched by
//     destination prefix, through tcp_proxy to the original destination.
//
// Hosts on tcp ports cannot be matched (no Host, no SNI) and are left out. A
// wildcard host (*.example.com) goes to the original destination, since it
// names no single DNS name. It reports whether a chain matches by SNI (the
// listener then needs the TLS inspector).
func (g *gen) egressChains(cs *chainSet) (sni bool) {
	vhosts := map[string]*routev3.VirtualHost{}
	var httpPorts []int32
	for _, r := range g.view.Egress {
		for _, pp := range r.Ports {
			port := uint32(pp.Number)
			if len(r.IPRanges) > 0 {
				if prefixes := cs.claimPrefixes(matchKey(port, nil, "", nil), r.IPRanges); len(prefixes) > 0 {
					name := "egress|" + r.Policy.Namespace + "/" + r.Policy.Name + "|" + portString(pp.Number)
					fc := &listenerv3.FilterChain{
						Name:             name,
						FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(port)},
						Filters:          []*listenerv3.Filter{g.tcpProxy(name, []target{{cluster: g.passthroughCluster()}})},
					}
					for _, p := range prefixes {
						fc.FilterChainMatch.PrefixRanges = append(fc.FilterChainMatch.PrefixRanges, cidr(p))
					}
					cs.add(fc)
				}
			}
			for _, host := range r.Hosts {
				switch pp.Protocol {
				case catalog.ProtocolHTTP:
					if !validDomain(host) {
						continue
					}
					g.egressHTTPHost(vhosts, r, host, pp.Number)
					if !slices.Contains(httpPorts, pp.Number) {
						httpPorts = append(httpPorts, pp.Number)
					}
				case catalog.ProtocolHTTPS:
					if !validServerName(host) || !cs.claim(matchKey(port, []string{host}, "", nil)) {
						continue
					}
					name := "egress|" + EgressClusterName(host, pp.Number)
					cs.add(&listenerv3.FilterChain{
						Name:             name,
						FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(port), ServerNames: []string{host}},
						Filters:          []*listenerv3.Filter{g.tcpProxy(name, []target{{cluster: g.egressHostCluster(host, pp.Number, r.UpstreamTrafficSetting)}})},
					})
					sni = true
				}
			}
		}
	}
	for _, port := range httpPorts {
		rds := egressRouteName(port)
		if len(g.routes[rds].GetVirtualHosts()) == 0 || !cs.claim(matchKey(uint32(port), nil, "", nil)) {
			continue
		}
		if g.view.EgressPassthrough {
			g.addVirtualHost(rds, &routev3.VirtualHost{
				Name:   "egress|passthrough",
				Routes: []*routev3.Route{routeTo([]target{{cluster: g.passthroughCluster()}}, nil, false)},
			}, []string{"*"})
		}
		cs.add(&listenerv3.FilterChain{
			Name:             "egress|http|" + portString(port),
			FilterChainMatch: &listenerv3.FilterChainMatch{DestinationPort: wrapperspb.UInt32(uint32(port))},
			Filters:          []*listenerv3.Filter{g.hcm(hcmOptions{statPrefix: rds, rds: rds})},
		})
	}
	return sni
}

// egressHTTPHost adds (or extends) the virtual host of an HTTP egress host,
// with a route per HTTP match of the rule (or one for every request).
func (g *gen) egressHTTPHost(vhosts map[string]*routev3.VirtualHost, r *catalog.EgressRule, host string, port int32) {
	var matches []*routev3.RouteMatch
	if len(r.HTTPMatches) == 0 {
		matches = append(matches, &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}})
	}
	for _, m := range r.HTTPMatches {
		if rm, ok := httpMatchRoute(m); ok {
			matches = append(matches, rm)
		}
	}
	if len(matches) == 0 {
		return
	}
	cluster := g.egressHostCluster(host, port, r.UpstreamTrafficSetting)
	var routes []*routev3.Route
	for _, rm := range matches {
		rt := routeTo([]target{{cluster: cluster}}, nil, false)
		rt.Match = rm
		routes = append(routes, rt)
	}
	rds := egressRouteName(port)
	key := rds + "|" + host
	if vh := vhosts[key]; vh != nil {
		vh.Routes = append(vh.Routes, routes...)
		return
	}
	vh := &routev3.VirtualHost{Name: "egress|" + EgressClusterName(host, port), Routes: routes}
	if g.addVirtualHost(rds, vh, []string{host, host + ":" + portString(port)}) {
		vhosts[key] = vh
	}
}

// egressHostCluster is the DNS cluster of a host, or the original destination
// for a wildcard host.
func (g *gen) egressHostCluster(host string, port int32, uts *catalog.UpstreamTrafficSetting) string {
	if strings.Contains(host, "*") {
		return g.passthroughCluster()
	}
	return g.egressCluster(host, port, uts)
}

// validDomain reports whether Envoy takes host as a virtual host domain: at
// most one wildcard, as a prefix or a suffix.
func validDomain(host string) bool {
	n := strings.Count(host, "*")
	return n == 0 || (n == 1 && (strings.HasPrefix(host, "*") || strings.HasSuffix(host, "*")))
}

// validServerName reports whether Envoy takes host as an SNI to match: a
// name, or a name under "*." (Envoy refuses partial wildcards).
func validServerName(host string) bool {
	n := strings.Count(host, "*")
	return n == 0 || (n == 1 && strings.HasPrefix(host, "*.") && len(host) > 2)
}
