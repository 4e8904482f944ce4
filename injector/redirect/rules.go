package redirect

import (
	"fmt"
	"strings"
)

// Chains Weft adds to the nat table. Their names are OSM's, so operators'
// runbooks that grep for them keep working.
const (
	chainInbound         = "PROXY_INBOUND"
	chainInboundRedirect = "PROXY_IN_REDIRECT"
	chainOutput          = "PROXY_OUTPUT"
	chainRedirect        = "PROXY_REDIRECT"
)

// Rules returns the nat table rules for c as iptables-restore input, to be
// applied with `iptables-restore --noflush` so that other tables are untouched.
func Rules(c Config) string {
	var b strings.Builder
	rule := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }

	rule("*nat")
	for _, chain := range []string{chainInbound, chainInboundRedirect, chainOutput, chainRedirect} {
		rule(":%s - [0:0]", chain)
	}
	rule("-A %s -p tcp -j REDIRECT --to-ports %d", chainRedirect, OutboundPort)
	rule("-A %s -p tcp -j REDIRECT --to-ports %d", chainInboundRedirect, InboundPort)

	// Inbound: everything reaches the inbound listener except the sidecar's own
	// ports (Prometheus, health probes) and excluded ports and interfaces.
	rule("-A PREROUTING -p tcp -j %s", chainInbound)
	for _, iface := range c.InterfaceExclusions {
		rule("-A %s -i %s -j RETURN", chainInbound, iface)
	}
	rule("-A %s -p tcp --dport %d -j RETURN", chainInbound, PrometheusPort)
	rule("-A %s -p tcp --dport %d:%d -j RETURN", chainInbound, FirstHealthPort, LastHealthPort)
	for _, p := range c.InboundPortExclusions {
		rule("-A %s -p tcp --dport %d -j RETURN", chainInbound, p)
	}
	rule("-A %s -p tcp -j %s", chainInbound, chainInboundRedirect)

	// Outbound: the proxy's own traffic and loopback are never redirected, or
	// the proxy would loop to itself.
	rule("-A OUTPUT -p tcp -j %s", chainOutput)
	rule("-A %s -m owner --uid-owner %d -j RETURN", chainOutput, ProxyUID)
	rule("-A %s -d 127.0.0.0/8 -j RETURN", chainOutput)
	for _, iface := range c.InterfaceExclusions {
		rule("-A %s -o %s -j RETURN", chainOutput, iface)
	}
	for _, p := range c.OutboundPortExclusions {
		rule("-A %s -p tcp --dport %d -j RETURN", chainOutput, p)
	}
	for _, cidr := range c.OutboundIPRangeExclusions {
		rule("-A %s -d %s -j RETURN", chainOutput, cidr)
	}
	if len(c.OutboundIPRangeInclusions) == 0 {
		rule("-A %s -j %s", chainOutput, chainRedirect)
	} else {
		for _, cidr := range c.OutboundIPRangeInclusions {
			rule("-A %s -d %s -j %s", chainOutput, cidr, chainRedirect)
		}
	}
	rule("COMMIT")
	return b.String()
}
