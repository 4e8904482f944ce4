package envoy

import (
	"fmt"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strings"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	routerv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/router/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/wellknown"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// The proxyless flavour (ProxyGRPC) is what grpc-go's xDS client and server
// take, from the same model as sidecars:
//
//   - a client listener (api_listener) per mesh Service port, under the
//     names a client dials: xds:///<svc>.<ns>.svc.<cluster domain>:<port>,
//     <svc>.<ns>.svc:<port> and <svc>.<ns>:<port>, each through RDS to one
//     route configuration with the Service's targets (split weights) and
//     retry policy, or its GAMMA rules (grpcGammaRoute);
//   - EDS clusters with mTLS from the bootstrap's certificate provider
//     (CertificateProviderInstance; gRPC takes no SDS) and the upstream
//     identities' SPIFFE IDs and names as the acceptable peers, and their
//     endpoints in one locality (gRPC refuses a locality without an ID);
//   - a server listener per address and port the identity's pods serve a
//     mesh Service on (GRPCServerListenerTemplate): mTLS required, the RBAC
//     HTTP filter with the same policies a sidecar enforces, and a chain per
//     IngressBackend with source ranges, matched by source address (gRPC
//     matches no server name or transport).
//
// What gRPC cannot do is left out: egress (a proxyless client dials what it
// likes outside the mesh), local rate limits, TCP proxying, health probes and
// Prometheus listeners.

// generateGRPC builds a proxyless workload's resources.
func generateGRPC(g *gen) *Resources {
	r := &Resources{}
	clusters := map[string]*clusterv3.Cluster{}
	endpoints := map[string]*endpointv3.ClusterLoadAssignment{}
	for _, o := range g.grpcOutbounds() {
		for _, port := range o.Service.Ports {
			route := grpcRouteName(o.Service.ServiceRef, port.Port)
			for _, name := range grpcListenerNames(o.Service.ServiceRef, port.Port, g.model.Settings.ClusterDomain) {
				r.Listeners = append(r.Listeners, g.grpcClientListener(name, route))
			}
			var targets []backendTarget
			if rules := gammaRules(o.Service, port); len(rules) > 0 {
				var rc *routev3.RouteConfiguration
				rc, targets = g.grpcGammaRoute(route, port, rules, o.Retry)
				r.Routes = append(r.Routes, rc)
			} else {
				targets = backendTargets(o, port)
				r.Routes = append(r.Routes, g.grpcRoute(route, targets, o.Retry))
			}
			for _, t := range targets {
				name := ClusterName(t.svc.ServiceRef, t.port.Port)
				if clusters[name] == nil {
					clusters[name] = g.grpcCluster(name, t.svc)
					endpoints[name] = g.assignment(servicePort{t.svc, t.port})
				}
			}
		}
	}
	r.Listeners = append(r.Listeners, g.grpcServerListeners()...)
	r.Listeners = sortedByName(r.Listeners, (*listenerv3.Listener).GetName)
	r.Routes = sortedByName(r.Routes, (*routev3.RouteConfiguration).GetName)
	r.Clusters = sortedByName(slices.Collect(maps.Values(clusters)), (*clusterv3.Cluster).GetName)
	r.Endpoints = sortedByName(slices.Collect(maps.Values(endpoints)), (*endpointv3.ClusterLoadAssignment).GetClusterName)
	return r
}

// grpcOutbounds are the Services a proxyless client can call: those it may
// reach (with their splits and retries), and every other mesh Service, so
// that a call it may not make reaches the server and is denied there
// (PermissionDenied, as a sidecar's 403) rather than failing to resolve. The
// servers' RBAC decides who is allowed either way.
func (g *gen) grpcOutbounds() []catalog.Outbound {
	out := slices.Clone(g.view.Outbound)
	allowed := map[catalog.ServiceRef]bool{}
	for _, o := range out {
		allowed[o.Service.ServiceRef] = true
	}
	for _, svc := range g.model.Services {
		if !allowed[svc.ServiceRef] {
			out = append(out, catalog.Outbound{Service: svc})
		}
	}
	return out
}

// grpcListenerNames are the names a client may dial a Service port by.
func grpcListenerNames(svc catalog.ServiceRef, port int32, clusterDomain string) []string {
	names := mesh.ServiceDNSNames(svc.Name, svc.Namespace, clusterDomain)
	p := ":" + portString(port)
	return []string{names[2] + p, names[1] + p, names[0] + p}
}

func grpcRouteName(svc catalog.ServiceRef, port int32) string {
	return "grpc-outbound|" + ClusterName(svc, port)
}

func (g *gen) grpcClientListener(name, route string) *listenerv3.Listener {
	hcm := &hcmv3.HttpConnectionManager{
		StatPrefix:     name,
		RouteSpecifier: &hcmv3.HttpConnectionManager_Rds{Rds: &hcmv3.Rds{ConfigSource: adsSource(), RouteConfigName: route}},
		HttpFilters:    []*hcmv3.HttpFilter{g.httpFilter(wellknown.Router, &routerv3.Router{})},
	}
	return &listenerv3.Listener{Name: name, ApiListener: &listenerv3.ApiListener{ApiListener: g.any(hcm)}}
}

func (g *gen) grpcRoute(name string, targets []backendTarget, retry *catalog.RetryPolicy) *routev3.RouteConfiguration {
	var ts []target
	for _, t := range targets {
		ts = append(ts, target{cluster: ClusterName(t.svc.ServiceRef, t.port.Port), weight: t.weight})
	}
	if len(ts) > 1 {
		ts = scaleWeights(ts)
	}
	// No timeout, as a sidecar's: gRPC would read max_stream_duration, and
	// without one a call keeps the client's own deadline.
	r := routeTo(ts, nil)
	if a := r.GetRoute(); a != nil {
		a.RetryPolicy = grpcRetryPolicy(retry)
	}
	return &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{{Name: name, Domains: []string{"*"}, Routes: []*routev3.Route{r}}}}
}

// grpcGammaRoute is a Service port's route configuration from its GAMMA
// rules, as gRPC takes them: path and header matches, weights, the timeout as
// max_stream_duration (gRPC reads no route timeout). Query matches never hold
// for a gRPC call, so their rules are left out; gRPC has no header rewriting,
// so the modifiers are too. It returns the backends, for their clusters.
func (g *gen) grpcGammaRoute(name string, port catalog.ServicePort, rules []catalog.RouteRule, retry *catalog.RetryPolicy) (*routev3.RouteConfiguration, []backendTarget) {
	vh := &routev3.VirtualHost{Name: name, Domains: []string{"*"}}
	var all []backendTarget
	for _, rule := range rules {
		if len(rule.Match.QueryParams) > 0 {
			continue
		}
		targets := g.gammaTargets(rule, port)
		all = append(all, targets...)
		var ts []target
		for _, t := range targets {
			ts = append(ts, target{cluster: ClusterName(t.svc.ServiceRef, t.port.Port), weight: t.weight})
		}
		rt := routeTo(scaleWeights(ts), nil)
		rt.Match = gammaMatch(rule.Match, true)
		if a := rt.GetRoute(); a != nil {
			a.RetryPolicy = grpcRetryPolicy(retry)
			if t := firstSet(rule.Timeout, rule.BackendTimeout); t > 0 {
				a.MaxStreamDuration = &routev3.RouteAction_MaxStreamDuration{MaxStreamDuration: durationpb.New(t)}
			}
		} else {
			rt.Action = &routev3.Route_DirectResponse{DirectResponse: &routev3.DirectResponseAction{Status: 500}}
		}
		vh.Routes = append(vh.Routes, rt)
	}
	return &routev3.RouteConfiguration{Name: name, VirtualHosts: []*routev3.VirtualHost{vh}}, all
}

// grpcRetryConditions maps Envoy's retry_on conditions to the gRPC status
// codes gRPC retries on: its own names pass through, and the conditions of a
// failed connection or a 5xx answer, which a gRPC client sees as
// UNAVAILABLE, become "unavailable".
var grpcRetryConditions = map[string]string{
	"cancelled": "cancelled", "deadline-exceeded": "deadline-exceeded", "internal": "internal",
	"resource-exhausted": "resource-exhausted", "unavailable": "unavailable",
	"5xx": "unavailable", "gateway-error": "unavailable", "connect-failure": "unavailable", "reset": "unavailable",
}

// grpcRetryPolicy translates the retry conditions gRPC can honour; with
// none, or no retries, there is no policy, since gRPC refuses one that cannot
// retry.
func grpcRetryPolicy(r *catalog.RetryPolicy) *routev3.RetryPolicy {
	if r == nil || (r.NumRetries != nil && *r.NumRetries == 0) {
		return nil
	}
	var on []string
	for _, c := range strings.Split(r.RetryOn, ",") {
		if code := grpcRetryConditions[strings.TrimSpace(c)]; code != "" && !slices.Contains(on, code) {
			on = append(on, code)
		}
	}
	if len(on) == 0 {
		return nil
	}
	rp := retryPolicy(r)
	rp.RetryOn = strings.Join(on, ",")
	rp.PerTryTimeout = nil // gRPC has no per-try timeout
	return rp
}

// grpcTLS is the certificate provider's certificate and roots.
func grpcTLS() *tlsv3.CommonTlsContext {
	provider := &tlsv3.CertificateProviderPluginInstance{InstanceName: CertificateProviderInstance}
	return &tlsv3.CommonTlsContext{
		TlsCertificateProviderInstance: provider,
		ValidationContextType: &tlsv3.CommonTlsContext_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			CaCertificateProviderInstance: provider,
		}},
	}
}

func (g *gen) grpcCluster(name string, svc *catalog.Service) *clusterv3.Cluster {
	common := grpcTLS()
	vc := common.GetValidationContext()
	for _, id := range svc.Identities {
		// gRPC reads only the untyped matchers, against every SAN.
		//lint:ignore SA1019 match_typed_subject_alt_names is not read by gRPC.
		vc.MatchSubjectAltNames = append(vc.MatchSubjectAltNames, exact(id.SPIFFEID(g.trustDomain).String()), exact(id.CommonName(g.trustDomain)))
	}
	uts := svc.UpstreamTrafficSetting
	return &clusterv3.Cluster{
		Name:                 name,
		ClusterDiscoveryType: &clusterv3.Cluster_Type{Type: clusterv3.Cluster_EDS},
		EdsClusterConfig:     &clusterv3.Cluster_EdsClusterConfig{EdsConfig: adsSource()},
		LbPolicy:             clusterv3.Cluster_ROUND_ROBIN,
		ConnectTimeout:       connectTimeout(uts),
		// gRPC reads max_requests only: unset, it fails calls past 1024 in flight.
		CircuitBreakers: circuitBreakers(uts),
		TransportSocket: g.transportSocket(&tlsv3.UpstreamTlsContext{
			Sni:              svc.FQDN(g.model.Settings.ClusterDomain),
			CommonTlsContext: common,
		}),
	}
}

// grpcServed is one address and port the identity's pods serve, with the
// Service ports behind it.
type grpcServed struct {
	addr    netip.AddrPort
	inbound []catalog.InboundPort
	ingress []*catalog.IngressRule
}

// grpcServedAddresses are where the identity's pods serve its Services'
// ports: every endpoint of the identity, ready or not (a gRPC server is not
// ready before it has its listener).
func (g *gen) grpcServedAddresses() []*grpcServed {
	byAddr := map[netip.AddrPort]*grpcServed{}
	var out []*grpcServed
	for _, in := range g.view.Inbound {
		svc := g.model.Service(in.Service)
		if svc == nil {
			continue
		}
		for _, ep := range svc.Endpoints {
			if ep.Identity != g.view.Identity || ep.PortName != in.Port.Name || ep.Port < 1 || ep.Port > 65535 {
				continue
			}
			a, err := netip.ParseAddr(ep.IP)
			if err != nil || a.Zone() != "" {
				continue
			}
			ap := netip.AddrPortFrom(a.Unmap(), uint16(ep.Port))
			s := byAddr[ap]
			if s == nil {
				s = &grpcServed{addr: ap}
				byAddr[ap] = s
				out = append(out, s)
			}
			if !slices.ContainsFunc(s.inbound, func(x catalog.InboundPort) bool { return x.Service == in.Service && x.Port == in.Port }) {
				s.inbound = append(s.inbound, in)
			}
			for _, r := range g.view.Ingress {
				if r.Backend == in.Service && (r.Port.Port == ep.Port || r.Port.Port == in.Port.Port) && !slices.Contains(s.ingress, r) {
					s.ingress = append(s.ingress, r)
				}
			}
		}
	}
	return out
}

func (g *gen) grpcServerListeners() []*listenerv3.Listener {
	var out []*listenerv3.Listener
	for _, s := range g.grpcServedAddresses() {
		host, port := s.addr.Addr().String(), uint32(s.addr.Port())
		name := fmt.Sprintf(GRPCServerListenerTemplate, net.JoinHostPort(host, portString(int32(port))))
		pol := policies{}
		for _, in := range s.inbound {
			for n, p := range g.inboundPolicies(in) {
				pol.add(n, p)
			}
		}
		l := &listenerv3.Listener{
			Name:    name,
			Address: socketAddress(host, port),
			DefaultFilterChain: &listenerv3.FilterChain{
				Name:            "inbound-mesh",
				Filters:         []*listenerv3.Filter{g.grpcServerHCM("inbound-mesh", pol)},
				TransportSocket: g.grpcDownstreamTLS(true),
			},
		}
		claimed := map[netip.Prefix]bool{}
		for _, r := range s.ingress {
			g.grpcIngress(l, r, pol, claimed)
		}
		out = append(out, l)
	}
	return out
}

// grpcIngress adds an IngressBackend's chain, matched by its source ranges.
// Without ranges the clients cannot be told apart from the mesh's: a rule
// that verifies client certificates then admits its principals on the mesh
// chain (mesh, the default chain's policies), and one that skips
// verification cannot be expressed and is left out.
func (g *gen) grpcIngress(l *listenerv3.Listener, r *catalog.IngressRule, mesh policies, claimed map[netip.Prefix]bool) {
	tls := r.Protocol == catalog.ProtocolHTTPS
	verify := tls && !r.SkipClientCertValidation
	pol := ingressPolicies(r, verify, true)
	name := r.Policy.Namespace + "/" + r.Policy.Name
	if len(r.SourceIPRanges) == 0 {
		if verify {
			for n, p := range pol {
				mesh.add(n, p)
			}
			l.DefaultFilterChain.Filters = []*listenerv3.Filter{g.grpcServerHCM("inbound-mesh", mesh)}
		}
		return
	}
	var ranges []*corev3.CidrRange
	for _, p := range r.SourceIPRanges {
		if claimed[p] {
			continue // another rule's chain has this range: gRPC refuses two
		}
		claimed[p] = true
		ranges = append(ranges, cidr(p))
	}
	if len(ranges) == 0 {
		return
	}
	fc := &listenerv3.FilterChain{
		Name:             "ingress|" + name,
		FilterChainMatch: &listenerv3.FilterChainMatch{SourcePrefixRanges: ranges},
		Filters:          []*listenerv3.Filter{g.grpcServerHCM("ingress|"+name, pol)},
	}
	if tls {
		fc.TransportSocket = g.grpcDownstreamTLS(verify)
	}
	l.FilterChains = append(l.FilterChains, fc)
}

// grpcServerHCM routes every request to the server itself (gRPC's
// non-forwarding action) after the RBAC filter.
func (g *gen) grpcServerHCM(statPrefix string, p policies) *listenerv3.Filter {
	routes := &routev3.RouteConfiguration{Name: statPrefix, VirtualHosts: []*routev3.VirtualHost{{
		Name: statPrefix, Domains: []string{"*"},
		Routes: []*routev3.Route{{
			Match:  &routev3.RouteMatch{PathSpecifier: &routev3.RouteMatch_Prefix{Prefix: "/"}},
			Action: &routev3.Route_NonForwardingAction{NonForwardingAction: &routev3.NonForwardingAction{}},
		}},
	}}}
	return g.networkFilter(wellknown.HTTPConnectionManager, &hcmv3.HttpConnectionManager{
		StatPrefix:     statPrefix,
		RouteSpecifier: &hcmv3.HttpConnectionManager_RouteConfig{RouteConfig: routes},
		HttpFilters: []*hcmv3.HttpFilter{
			g.httpFilter(wellknown.HTTPRoleBasedAccessControl, &rbachttpv3.RBAC{Rules: p.rules()}),
			g.httpFilter(wellknown.Router, &routerv3.Router{}),
		},
	})
}

// grpcDownstreamTLS serves the workload's certificate; with verifyClients,
// clients must present one the mesh roots sign.
func (g *gen) grpcDownstreamTLS(verifyClients bool) *corev3.TransportSocket {
	common := grpcTLS()
	if !verifyClients {
		common.ValidationContextType = nil
	}
	return g.transportSocket(&tlsv3.DownstreamTlsContext{CommonTlsContext: common, RequireClientCertificate: wrapperspb.Bool(verifyClients)})
}
