// Package redirect owns the traffic redirection rules the init container
// installs in a meshed pod's network namespace: inbound TCP to the sidecar's
// inbound listener, outbound TCP to its outbound listener, the proxy's own
// traffic (UID 1500) and loopback left alone, and the exclusions a MeshConfig
// and the pod's annotations ask for.
//
// The rules come in two forms that redirect the same traffic, rule for rule:
//   - Rules renders iptables-restore input for the nat table, which Apply runs
//     through `iptables-restore --noflush`. OSM's init image gets this script
//     from the injector, and weft-init uses it with --backend=iptables.
//   - ApplyNftables installs them over netlink in an nftables table of its own
//     (ip weft), so weft-init's image needs no binary besides itself; this is
//     weft-init's default. NftablesRules shows them in nft syntax.
//
// Either applies in one atomic step: every rule is in place or none is. Both
// are IPv4 only; no ip6tables or ip6 rules are installed. The package imports
// no Kubernetes client.
package redirect
