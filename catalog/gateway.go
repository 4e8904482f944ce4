package catalog

import (
	"crypto/tls"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s/state"
)

// Ingress through Gateways of Weft's GatewayClass: each becomes a proxy of
// kind gateway with its own identity, whose listeners route by the attached
// HTTPRoutes to mesh Services over mTLS; the backends' inbound admits it
// without an IngressBackend. See docs/gateway-api.md.

// GatewayControllerName is the spec.controllerName of the GatewayClasses
// whose Gateways Weft provisions and programs. GAMMA routes report as
// weft.io/mesh-controller instead: the two roles are distinct parents.
const GatewayControllerName = state.GatewayClassController

// GatewayIdentity is the identity of a Gateway's proxies: the service
// account weftd provisions for it, <gateway>-weft-gateway in its namespace
// (state.GatewayProvisionedName).
func GatewayIdentity(namespace, gateway string) identity.Identity {
	return identity.Identity{Namespace: namespace, ServiceAccount: state.GatewayProvisionedName(gateway)}
}

// Gateway is a Gateway of Weft's class, resolved: a proxy of kind gateway.
type Gateway struct {
	// Gateway is the Gateway object; Class its GatewayClass.
	Gateway ObjectRef
	Class   string
	// Identity is the gateway proxies' service account (GatewayIdentity).
	Identity identity.Identity
	// Listeners are the usable listeners, by port then name.
	Listeners []GatewayListener
}

// GatewayListener is one listener of a Gateway.
type GatewayListener struct {
	Name string
	Port int32
	// Protocol is ProtocolHTTP or ProtocolHTTPS (TLS terminated here).
	Protocol Protocol
	// Hostname restricts the listener's host; empty takes any.
	Hostname string
	// Certificates are the HTTPS listener's certificateRefs' contents.
	Certificates []GatewayCertificate
	// Routes are the attached HTTPRoutes' rules, in Gateway API's order of
	// precedence (as a Service's GAMMA routes).
	Routes []RouteRule
}

// GatewayCertificate is a kubernetes.io/tls Secret a listener serves.
type GatewayCertificate struct {
	Secret          ObjectRef
	CertPEM, KeyPEM []byte
}

// gatewayAdminPort is Envoy's admin port in the bootstrap every proxy
// gets (pkg/envoy.AdminPort), which a listener cannot take.
const gatewayAdminPort = 15000

// gatewayAdmit is a gateway a backend's port admits.
type gatewayAdmit struct {
	gateway ObjectRef
	id      identity.Identity
	port    int32 // 0: every HTTP port
}

// Gateway returns the gateway whose proxies run as id, or nil.
func (m *Model) Gateway(id identity.Identity) *Gateway {
	i := slices.IndexFunc(m.Gateways, func(g *Gateway) bool { return g.Identity == id })
	if i < 0 {
		return nil
	}
	return m.Gateways[i]
}

// buildGateways resolves the Gateways of Weft's classes, their listeners and
// the HTTPRoutes attached to them, and records which backend ports admit each
// gateway's identity. It runs after attachRoutes.
func (b *builder) buildGateways() {
	classes := b.state.WeftGatewayClasses()
	b.gatewayAdmits = map[ServiceRef][]gatewayAdmit{}
	byRef := map[ObjectRef]*Gateway{}
	for _, gw := range b.state.Gateways {
		if gw == nil || gw.Name == "" || !b.monitored[gw.Namespace] || !classes[string(gw.Spec.GatewayClassName)] {
			continue
		}
		obj := ObjectRef{"Gateway", gw.Namespace, gw.Name}
		g := &Gateway{Gateway: obj, Class: string(gw.Spec.GatewayClassName), Identity: GatewayIdentity(gw.Namespace, gw.Name)}
		for i, l := range gw.Spec.Listeners {
			gl, ok := b.gatewayListener(obj, i, l)
			if !ok {
				continue
			}
			// Gateway API's conflicts: one protocol per port, one listener
			// per port and hostname.
			if j := slices.IndexFunc(g.Listeners, func(o GatewayListener) bool { return o.Port == gl.Port && o.Protocol != gl.Protocol }); j >= 0 {
				b.problems.add(obj, fieldIndex("spec.listeners", i, "port"), "%s: listener %s already takes port %d for %s; listener skipped",
					gatewayv1.ListenerReasonProtocolConflict, g.Listeners[j].Name, gl.Port, g.Listeners[j].Protocol)
				continue
			}
			if j := slices.IndexFunc(g.Listeners, func(o GatewayListener) bool { return o.Port == gl.Port && o.Hostname == gl.Hostname }); j >= 0 {
				b.problems.add(obj, fieldIndex("spec.listeners", i, "hostname"), "%s: listener %s already takes port %d for hostname %q; listener skipped",
					gatewayv1.ListenerReasonHostnameConflict, g.Listeners[j].Name, gl.Port, gl.Hostname)
				continue
			}
			g.Listeners = append(g.Listeners, gl)
		}
		if len(gw.Spec.Addresses) > 0 {
			b.problems.warn(obj, "spec.addresses", "UnsupportedAddress: not supported yet; the provisioned Service's addresses are used")
		}
		b.gateways = append(b.gateways, g)
		byRef[obj] = g
	}
	b.attachGatewayRoutes(gws(b.state.Gateways, byRef))
	for _, g := range b.gateways {
		slices.SortStableFunc(g.Listeners, func(x, y GatewayListener) int {
			if x.Port != y.Port {
				return int(x.Port - y.Port)
			}
			return strings.Compare(x.Name, y.Name)
		})
		for i := range g.Listeners {
			slices.SortStableFunc(g.Listeners[i].Routes, func(x, y RouteRule) int { return compareMatches(x.Match, y.Match) })
		}
	}
}

// gatewayObject pairs each resolved gateway with its object.
type gatewayObject struct {
	obj *gatewayv1.Gateway
	g   *Gateway
}

func gws(all []*gatewayv1.Gateway, byRef map[ObjectRef]*Gateway) []gatewayObject {
	var out []gatewayObject
	for _, gw := range all {
		if gw == nil {
			continue
		}
		if g := byRef[ObjectRef{"Gateway", gw.Namespace, gw.Name}]; g != nil {
			out = append(out, gatewayObject{gw, g})
		}
	}
	return out
}

// gatewayListener resolves one listener: HTTP, or HTTPS terminating TLS with
// its certificateRefs' Secrets. Problems name the listener's fields and lead
// with the listener condition reason they stand for.
func (b *builder) gatewayListener(gw ObjectRef, i int, l gatewayv1.Listener) (GatewayListener, bool) {
	field := fieldIndex("spec.listeners", i, "")
	gl := GatewayListener{Name: string(l.Name), Port: int32(l.Port)}
	if l.Hostname != nil {
		gl.Hostname = string(*l.Hostname)
	}
	if gl.Port == gatewayAdminPort {
		b.problems.add(gw, field+".port", "%s: port %d is the gateway Envoy's admin port; listener skipped", gatewayv1.ListenerReasonPortUnavailable, gl.Port)
		return gl, false
	}
	switch l.Protocol {
	case gatewayv1.HTTPProtocolType:
		gl.Protocol = ProtocolHTTP
		return gl, true
	case gatewayv1.HTTPSProtocolType:
		gl.Protocol = ProtocolHTTPS
	default:
		b.problems.add(gw, field+".protocol", "%s: protocol %s is not supported yet; listener skipped", gatewayv1.ListenerReasonUnsupportedProtocol, l.Protocol)
		return gl, false
	}
	if l.TLS == nil || (l.TLS.Mode != nil && *l.TLS.Mode != gatewayv1.TLSModeTerminate) {
		b.problems.add(gw, field+".tls", "%s: an HTTPS listener needs tls.mode Terminate and certificateRefs; listener skipped", gatewayv1.ListenerReasonInvalidCertificateRef)
		return gl, false
	}
	for j, ref := range l.TLS.CertificateRefs {
		cf := fieldIndex(field+".tls.certificateRefs", j, "")
		if (ref.Group != nil && *ref.Group != "") || (ref.Kind != nil && *ref.Kind != "Secret") {
			b.problems.add(gw, cf, "%s: only core Secrets are supported; certificate skipped", gatewayv1.ListenerReasonInvalidCertificateRef)
			continue
		}
		ns := gw.Namespace
		if ref.Namespace != nil && *ref.Namespace != "" {
			ns = string(*ref.Namespace)
		}
		secret := ObjectRef{"Secret", ns, string(ref.Name)}
		if ns != gw.Namespace && !b.secretGranted(gw, secret) {
			b.problems.add(gw, cf, "%s: no ReferenceGrant in namespace %s lets %s use secret %s/%s; certificate skipped",
				gatewayv1.ListenerReasonRefNotPermitted, ns, gw, ns, ref.Name)
			continue
		}
		s := b.secret(ns, string(ref.Name))
		if s == nil {
			b.problems.add(gw, cf, "%s: secret %s/%s does not exist; certificate skipped", gatewayv1.ListenerReasonInvalidCertificateRef, ns, ref.Name)
			continue
		}
		// What Envoy would refuse, refused here: the listener then fails
		// alone, not the gateway's whole configuration.
		if _, err := tls.X509KeyPair(s.Data[corev1.TLSCertKey], s.Data[corev1.TLSPrivateKeyKey]); err != nil {
			b.problems.add(gw, cf, "%s: secret %s/%s holds no valid tls.crt and tls.key (%v); certificate skipped",
				gatewayv1.ListenerReasonInvalidCertificateRef, ns, ref.Name, err)
			continue
		}
		gl.Certificates = append(gl.Certificates, GatewayCertificate{Secret: secret,
			CertPEM: s.Data[corev1.TLSCertKey], KeyPEM: s.Data[corev1.TLSPrivateKeyKey]})
	}
	if len(gl.Certificates) == 0 {
		b.problems.add(gw, field+".tls.certificateRefs", "%s: no usable certificate; listener skipped", gatewayv1.ListenerReasonInvalidCertificateRef)
		return gl, false
	}
	return gl, true
}

func (b *builder) secret(ns, name string) *corev1.Secret {
	for _, s := range b.state.Secrets {
		if s != nil && s.Namespace == ns && s.Name == name {
			return s
		}
	}
	return nil
}

// secretGranted reports whether a ReferenceGrant in the Secret's namespace
// lets the Gateway use it.
func (b *builder) secretGranted(gw, secret ObjectRef) bool {
	for _, g := range b.state.ReferenceGrants {
		if g == nil || g.Namespace != secret.Namespace {
			continue
		}
		from := slices.ContainsFunc(g.Spec.From, func(f gatewayv1.ReferenceGrantFrom) bool {
			return f.Group == gatewayv1.GroupName && f.Kind == "Gateway" && string(f.Namespace) == gw.Namespace
		})
		to := slices.ContainsFunc(g.Spec.To, func(t gatewayv1.ReferenceGrantTo) bool {
			return t.Group == "" && t.Kind == "Secret" && (t.Name == nil || string(*t.Name) == secret.Name)
		})
		if from && to {
			return true
		}
	}
	return false
}

// attachGatewayRoutes attaches each HTTPRoute to the listeners its Gateway
// parentRefs select (sectionName, port) and allow (allowedRoutes: kinds and
// namespaces, Same by default). Gateways of other classes are not Weft's:
// parentRefs naming them are left alone.
func (b *builder) attachGatewayRoutes(gateways []gatewayObject) {
	for _, r := range b.state.HTTPRoutes {
		if r == nil || r.Name == "" || !b.monitored[r.Namespace] || !slices.ContainsFunc(r.Spec.ParentRefs, state.IsGatewayParent) {
			continue
		}
		obj := ObjectRef{"HTTPRoute", r.Namespace, r.Name}
		var rules []RouteRule
		resolved := false
		hostnames := hostnameStrings(r.Spec.Hostnames)
		for i, p := range r.Spec.ParentRefs {
			if !state.IsGatewayParent(p) {
				continue
			}
			ns := state.ParentNamespace(p, r.Namespace)
			k := slices.IndexFunc(gateways, func(g gatewayObject) bool { return g.obj.Namespace == ns && g.obj.Name == string(p.Name) })
			if k < 0 {
				continue // no Gateway of Weft's class: another controller's, or none
			}
			gw := gateways[k]
			field := fieldIndex("spec.parentRefs", i, "")
			if !resolved {
				rules, resolved = b.gatewayRouteRules(obj, r.Spec.ParentRefs), true
			}
			matched, allowed, hosted := 0, 0, 0
			for li := range gw.obj.Spec.Listeners {
				l := gw.obj.Spec.Listeners[li]
				if !state.SelectsListener(p, l) {
					continue
				}
				matched++
				if !state.ListenerAllows(gw.obj, l, r.Namespace, b.state.Namespaces) {
					continue
				}
				allowed++
				var listenerHost string
				if l.Hostname != nil {
					listenerHost = string(*l.Hostname)
				}
				hosts, ok := intersectHostnames(listenerHost, hostnames)
				if !ok {
					continue
				}
				hosted++
				j := slices.IndexFunc(gw.g.Listeners, func(gl GatewayListener) bool { return gl.Name == string(l.Name) })
				if j < 0 {
					continue // the listener was skipped
				}
				for _, rr := range rules {
					rr.Hostnames = hosts
					gw.g.Listeners[j].Routes = append(gw.g.Listeners[j].Routes, rr)
					for _, be := range rr.Backends {
						b.admitGateway(be.Service, gatewayAdmit{gw.g.Gateway, gw.g.Identity, be.Port})
					}
				}
			}
			switch {
			case matched == 0:
				b.gammaProblem(obj, field, gatewayv1.RouteReasonNoMatchingParent, "%s has no listener matching the parentRef's sectionName and port; parent skipped", gw.g.Gateway)
			case allowed == 0:
				b.gammaProblem(obj, field, gatewayv1.RouteReasonNotAllowedByListeners, "no listener of %s allows this route (allowedRoutes); parent skipped", gw.g.Gateway)
			case hosted == 0:
				b.gammaProblem(obj, field, gatewayv1.RouteReasonNoMatchingListenerHostname,
					"no hostname of the route is within a listener's hostname of %s; parent skipped", gw.g.Gateway)
			}
		}
	}
}

// intersectHostnames are the hosts a route with hostnames answers on a
// listener with hostname listener (either may hold a "*." wildcard): nil for
// every host the listener takes (the route names none); ok is false when
// none of them is within the listener's.
func intersectHostnames(listener string, route []string) (hosts []string, ok bool) {
	if len(route) == 0 {
		return nil, true
	}
	within := func(host, pattern string) bool { // host within a wildcard pattern
		suffix, wild := strings.CutPrefix(pattern, "*")
		return wild && strings.HasSuffix(host, suffix) && len(host) > len(suffix)
	}
	for _, h := range route {
		switch {
		case listener == "" || h == listener || within(h, listener):
			hosts = append(hosts, h)
		case within(listener, h):
			hosts = append(hosts, listener)
		}
	}
	slices.Sort(hosts)
	hosts = slices.Compact(hosts)
	return hosts, len(hosts) > 0
}

// gatewayRouteRules resolves one HTTPRoute's rules. A route that also has a
// Service parent had its rules' problems recorded by attachRoutes already.
func (b *builder) gatewayRouteRules(obj ObjectRef, parents []gatewayv1.ParentReference) []RouteRule {
	i := slices.IndexFunc(b.gammaRoutes(), func(r gammaRoute) bool { return r.obj == obj })
	if i < 0 {
		return nil
	}
	n := len(b.problems)
	rules := b.routeRules(b.gammaRoutes()[i])
	if slices.ContainsFunc(parents, state.IsServiceParent) {
		b.problems = b.problems[:n]
	}
	return rules
}

func (b *builder) admitGateway(svc ServiceRef, a gatewayAdmit) {
	if !slices.Contains(b.gatewayAdmits[svc], a) {
		b.gatewayAdmits[svc] = append(b.gatewayAdmits[svc], a)
	}
}

// gatewayRules are the inbound rules admitting gateways on one port of a
// backend: all traffic, since the gateway's routes decide what it sends.
func (b *builder) gatewayRules(s *Service, p ServicePort) []InboundRule {
	var out []InboundRule
	for _, a := range b.gatewayAdmits[s.ServiceRef] {
		if a.port == p.Port || (a.port == 0 && p.Protocol.IsHTTP()) {
			out = append(out, InboundRule{Policy: a.gateway, Sources: []identity.Identity{a.id}, AllTraffic: true})
		}
	}
	return out
}
