package envoy

import (
	"fmt"
	"net/netip"
	"strings"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	httplrlv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/local_ratelimit/v3"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/healthprobe"
)

// plan is what one proxy reaches, decided once from its view and read by
// every pass: the filter chains that survive conflict resolution, the virtual
// hosts and the domains each took, and the clusters the chains and routes
// name. The passes only translate it into resources; none decides again.
type plan struct {
	// outbound and inbound are the chains of those listeners, in order.
	outbound, inbound []*chain
	// routes are the route configurations, in the order first named.
	routes     []*routeConfig
	routeIndex map[string]*routeConfig
	probes     []probeListener

	// The clusters the chains and routes name, each once (the first need of
	// a name decides it), except egress, which lists every use of an Egress
	// host for the clusters pass to merge.
	services    []servicePort
	locals      []localCluster
	egress      []egressUse
	passthrough bool
	clusterSeen map[string]bool
}

// chain is a filter chain: its match, and what it runs.
type chain struct {
	// name is unique in its listener (chainSet.add); stat is the name it was
	// planned with, which its stat prefixes use.
	name, stat  string
	port        uint32
	prefixes    []netip.Prefix
	serverNames []string
	transport   string
	sources     []netip.Prefix
	// serverFirst is set for a protocol whose server speaks first: no
	// listener filter may wait for the client's bytes on its port.
	serverFirst bool

	// An outbound chain runs an HTTP connection manager on route
	// configuration rds, or tcp_proxy to tcp.
	rds string
	tcp []target
	// local is set on an inbound chain, which runs to the local app.
	local *localChain
}

// localChain is what an inbound chain admits to the local app, and how.
type localChain struct {
	// tls terminates TLS with the proxy's certificate; verify requires a
	// client certificate the mesh roots sign.
	tls, verify bool
	// mesh or ingress is who is admitted (the listener's RBAC).
	mesh    *catalog.InboundPort
	ingress *catalog.IngressRule
	// rds is the route configuration of an HTTP port; cluster is the local
	// app's.
	rds, cluster string
	uts          *catalog.UpstreamTrafficSetting
}

// routeConfig is a route configuration and the domains its virtual hosts took.
type routeConfig struct {
	name   string
	vhosts []*vhost
	taken  map[string]bool
}

type vhost struct {
	name    string
	domains []string
	routes  []route
}

// route sends the requests it matches to targets (a 503 without one).
type route struct {
	// match is nil for every path.
	match     *routev3.RouteMatch
	targets   []target
	retry     *catalog.RetryPolicy
	rateLimit *httplrlv3.LocalRateLimit
	// gamma is the GAMMA rule the route carries out, if any.
	gamma *catalog.RouteRule
}

// localCluster is a static cluster on 127.0.0.1: the local app behind a
// Service port, or a probe's port.
type localCluster struct {
	name     string
	port     uint32
	protocol catalog.Protocol
}

// egressUse is one use of an Egress host's cluster, with the setting of the
// rule that uses it.
type egressUse struct {
	host string
	port int32
	uts  *catalog.UpstreamTrafficSetting
}

// probeListener forwards the probes moved to port: HTTP ones by path, else
// the connection, to tcp.
type probeListener struct {
	port   int32
	routes []probeRoute
	tcp    string
}

type probeRoute struct {
	path, rewrite, cluster string
}

// makePlan plans the proxy from its view: outbound Services, Egress rules,
// inbound Service ports, IngressBackends, probes. The order matters where the
// first comer wins (a chain's match, a domain, a route configuration).
func (g *gen) makePlan() {
	g.plan = &plan{routeIndex: map[string]*routeConfig{}, clusterSeen: map[string]bool{}}
	out := newChainSet()
	for _, o := range g.view.Outbound {
		if o.Service != nil {
			g.planOutbound(out, o)
		}
	}
	g.planEgress(out)
	g.plan.outbound = out.chains
	if g.view.EgressPassthrough {
		g.passthroughCluster()
	}
	in := newChainSet()
	for _, port := range g.view.Inbound {
		g.planInbound(in, port)
	}
	for _, r := range g.view.Ingress {
		g.planIngress(in, r)
	}
	g.plan.inbound = in.chains
	g.planProbes()
}

// routeConfig returns (planning it once) the route configuration called name.
func (g *gen) routeConfig(name string) *routeConfig {
	rc := g.plan.routeIndex[name]
	if rc == nil {
		rc = &routeConfig{name: name, taken: map[string]bool{}}
		g.plan.routeIndex[name] = rc
		g.plan.routes = append(g.plan.routes, rc)
	}
	return rc
}

// addVirtualHost adds vh to route configuration name with those of its
// domains that no other virtual host there has taken (Envoy rejects a domain
// twice in one configuration); a virtual host left without a domain is
// dropped. It reports whether vh was added.
func (g *gen) addVirtualHost(name string, vh *vhost, domains []string) bool {
	rc := g.routeConfig(name)
	for _, d := range domains {
		if d != "" && !rc.taken[d] {
			rc.taken[d] = true
			vh.domains = append(vh.domains, d)
		}
	}
	if len(vh.domains) == 0 {
		return false
	}
	rc.vhosts = append(rc.vhosts, vh)
	return true
}

// needCluster reports whether name is not planned yet, and plans it.
func (g *gen) needCluster(name string) bool {
	if g.plan.clusterSeen[name] {
		return false
	}
	g.plan.clusterSeen[name] = true
	return true
}

// serviceCluster plans the cluster of a mesh Service port.
func (g *gen) serviceCluster(svc *catalog.Service, port catalog.ServicePort) string {
	name := ClusterName(svc.ServiceRef, port.Port)
	if g.needCluster(name) {
		g.plan.services = append(g.plan.services, servicePort{svc, port})
	}
	return name
}

// localCluster plans the cluster of the local app behind a Service port.
func (g *gen) localCluster(svc catalog.ServiceRef, port catalog.ServicePort, targetPort uint32) string {
	name := LocalClusterName(svc, port.Port)
	if g.needCluster(name) {
		g.plan.locals = append(g.plan.locals, localCluster{name, targetPort, port.Protocol})
	}
	return name
}

// probeCluster plans the cluster of the app's probe port.
func (g *gen) probeCluster(port int32) string {
	name := fmt.Sprintf("health-probe|%d", port)
	if g.needCluster(name) {
		g.plan.locals = append(g.plan.locals, localCluster{name: name, port: uint32(port)})
	}
	return name
}

// passthroughCluster plans the cluster that connects to a connection's
// original destination.
func (g *gen) passthroughCluster() string {
	g.plan.passthrough = true
	return PassthroughClusterName
}

// egressCluster plans the cluster of an Egress host and port.
func (g *gen) egressCluster(host string, port int32, uts *catalog.UpstreamTrafficSetting) string {
	g.plan.egress = append(g.plan.egress, egressUse{host, port, uts})
	return EgressClusterName(host, port)
}

// chainSet gathers a listener's filter chains. Envoy rejects a listener with
// two chains of the same match, or two of the same name, so each chain claims
// its match (per destination prefix, when it has some) and a later chain only
// keeps what is still free.
type chainSet struct {
	chains []*chain
	taken  map[string]bool
	names  map[string]bool
}

func newChainSet() *chainSet {
	return &chainSet{taken: map[string]bool{}, names: map[string]bool{}}
}

// claim takes a match key; false when an earlier chain has it.
func (s *chainSet) claim(key string) bool {
	if s.taken[key] {
		return false
	}
	s.taken[key] = true
	return true
}

// claimAll takes every key, or none when one is taken.
func (s *chainSet) claimAll(keys []string) bool {
	for _, k := range keys {
		if s.taken[k] {
			return false
		}
	}
	for _, k := range keys {
		s.taken[k] = true
	}
	return true
}

// claimPrefixes takes the destination prefixes still free under key.
func (s *chainSet) claimPrefixes(key string, prefixes []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range prefixes {
		if s.claim(key + "|dst=" + p.String()) {
			out = append(out, p)
		}
	}
	return out
}

// add appends ch, renaming it if its name is taken.
func (s *chainSet) add(ch *chain) {
	ch.stat = ch.name
	for i := 2; s.names[ch.name]; i++ {
		ch.name = fmt.Sprintf("%s#%d", ch.stat, i)
	}
	s.names[ch.name] = true
	s.chains = append(s.chains, ch)
}

// anyDestination is the key of a chain matched by its port alone, whichever
// kind of chain (addressless Service, Egress HTTP port, Egress port open to
// any destination) claims it first.
func anyDestination(port uint32) string { return matchKey(port, nil, "", nil) + "|dst=any" }

// matchKey identifies a match without its destination prefixes.
func matchKey(port uint32, serverNames []string, transport string, sources []netip.Prefix) string {
	src := make([]string, len(sources))
	for i, p := range sources {
		src[i] = p.String()
	}
	return fmt.Sprintf("port=%d|sni=%s|transport=%s|src=%s", port, strings.Join(serverNames, ","), transport, strings.Join(src, ","))
}

func prefixesOf(ips []string) []netip.Prefix {
	var out []netip.Prefix
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil && a.Zone() == "" {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}

// planProbes groups the health probes the injector moved by the port they
// now use: HTTP probes are routed by their rewritten path (one kind may carry
// several containers' probes); HTTPS and TCP probes pass through as TCP.
func (g *gen) planProbes() {
	byPort := map[int32][]healthprobe.Probe{}
	var ports []int32
	for _, p := range g.view.HealthProbes {
		if _, ok := byPort[p.Port]; !ok {
			ports = append(ports, p.Port)
		}
		byPort[p.Port] = append(byPort[p.Port], p)
	}
	for _, port := range ports {
		probes := byPort[port]
		pl := probeListener{port: port}
		if probes[0].Original.Scheme != "HTTP" {
			pl.tcp = g.probeCluster(probes[0].Original.Port)
			g.plan.probes = append(g.plan.probes, pl)
			continue
		}
		for _, p := range probes {
			if p.Original.Scheme != "HTTP" {
				continue
			}
			rewrite := p.Original.Path
			if rewrite == "" {
				rewrite = "/"
			}
			pl.routes = append(pl.routes, probeRoute{path: p.Path, rewrite: rewrite, cluster: g.probeCluster(p.Original.Port)})
		}
		g.plan.probes = append(g.plan.probes, pl)
	}
}
