package envoy

import (
	"slices"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"

	"github.com/weft-mesh/weft/catalog"
)

// planEgress adds the proxy's Egress rules to the outbound listener:
//   - http hosts: a chain per port through the HTTP connection manager and
//     route configuration rds-egress.<port>, a virtual host per host;
//   - https hosts: a chain per port and host, matched by SNI, through
//     tcp_proxy (TLS passes through);
//   - IP ranges, whatever the protocol: a chain per port matched by
//     destination prefix, through tcp_proxy to the original destination;
//   - a port that admits any destination (catalog.PolicyPort.AnyDestination):
//     a chain matched by the port alone, to the original destination.
//
// Hosts on tcp ports cannot be matched (no Host, no SNI) and are left out. A
// wildcard host (*.example.com) goes to the original destination, since it
// names no single DNS name.
func (g *gen) planEgress(cs *chainSet) {
	vhosts := map[string]*vhost{}
	var httpPorts []int32
	for _, r := range g.view.Egress {
		for _, pp := range r.Ports {
			port := uint32(pp.Number)
			name := "egress|" + r.Policy.Namespace + "/" + r.Policy.Name + "|" + portString(pp.Number)
			serverFirst := pp.Protocol == catalog.ProtocolTCPServerFirst
			if len(r.IPRanges) > 0 {
				if prefixes := cs.claimPrefixes(matchKey(port, nil, "", nil), r.IPRanges); len(prefixes) > 0 {
					cs.add(&chain{name: name, port: port, prefixes: prefixes, serverFirst: serverFirst,
						tcp: []target{{cluster: g.passthroughCluster()}}})
				}
			}
			if pp.AnyDestination && cs.claim(anyDestination(port)) {
				cs.add(&chain{name: name, port: port, serverFirst: serverFirst,
					tcp: []target{{cluster: g.passthroughCluster()}}})
			}
			for _, host := range r.Hosts {
				switch pp.Protocol {
				case catalog.ProtocolHTTP:
					if !validDomain(host) {
						continue
					}
					g.planEgressHTTPHost(vhosts, r, host, pp.Number)
					if !slices.Contains(httpPorts, pp.Number) {
						httpPorts = append(httpPorts, pp.Number)
					}
				case catalog.ProtocolHTTPS:
					if !validServerName(host) || !cs.claim(matchKey(port, []string{host}, "", nil)) {
						continue
					}
					cs.add(&chain{
						name:        "egress|" + EgressClusterName(host, pp.Number),
						port:        port,
						serverNames: []string{host},
						tcp:         []target{{cluster: g.egressHostCluster(host, pp.Number, r.UpstreamTrafficSetting)}},
					})
				}
			}
		}
	}
	for _, port := range httpPorts {
		rds := egressRouteName(port)
		if rc := g.plan.routeIndex[rds]; rc == nil || len(rc.vhosts) == 0 || !cs.claim(anyDestination(uint32(port))) {
			continue
		}
		if g.view.EgressPassthrough {
			g.addVirtualHost(rds, &vhost{
				name:   "egress|passthrough",
				routes: []route{{targets: []target{{cluster: g.passthroughCluster()}}}},
			}, []string{"*"})
		}
		cs.add(&chain{name: "egress|http|" + portString(port), port: uint32(port), rds: rds})
	}
}

// planEgressHTTPHost adds (or extends) the virtual host of an HTTP egress
// host, with a route per HTTP match of the rule (or one for every request).
func (g *gen) planEgressHTTPHost(vhosts map[string]*vhost, r *catalog.EgressRule, host string, port int32) {
	var matches []*routev3.RouteMatch
	if len(r.HTTPMatches) == 0 {
		matches = append(matches, nil)
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
	var routes []route
	for _, rm := range matches {
		routes = append(routes, route{match: rm, targets: []target{{cluster: cluster}}})
	}
	rds := egressRouteName(port)
	key := rds + "|" + host
	if vh := vhosts[key]; vh != nil {
		vh.routes = append(vh.routes, routes...)
		return
	}
	vh := &vhost{name: "egress|" + EgressClusterName(host, port), routes: routes}
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
