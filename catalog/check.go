package catalog

import (
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strings"

	"github.com/weft-mesh/weft/pkg/identity"
)

// AccessRequest is a connection, or an HTTP request, to ask the model about:
// may this source reach this Service port with it? `weft policy check` asks.
type AccessRequest struct {
	// Source is the sender's identity; zero for a sender outside the mesh.
	Source identity.Identity
	// SourceIP is the sender's address, matched against IngressBackend
	// sources; invalid when unknown.
	SourceIP netip.Addr
	// Service is the destination; Port one of its ports, 0 for every port.
	Service ServiceRef
	Port    int32
	// HTTP is the request on an HTTP port; nil asks which requests, if any,
	// are admitted.
	HTTP *HTTPRequest
}

// HTTPRequest is what an HTTP request is matched on.
type HTTPRequest struct {
	// Path may carry a query, which matching ignores.
	Path, Method string
	// Headers by name, in any case.
	Headers map[string]string
}

// AccessResult is the model's answer to an AccessRequest.
type AccessResult struct {
	// Service is the destination; nil when it is not a Service of the mesh.
	Service *Service
	// Split is the destination's TrafficSplit, whose backends were checked in
	// its stead, as a sidecar sends them the traffic.
	Split *Split
	// Paths are one answer per Service port, backend (with a split) and
	// identity serving it.
	Paths []AccessPath
}

// Allowed reports whether every path that gets traffic admits the request;
// false without one.
func (r AccessResult) Allowed() bool {
	n := 0
	for _, p := range r.Paths {
		if p.NoPort {
			continue
		}
		if !p.Allowed {
			return false
		}
		n++
	}
	return n > 0
}

// AccessPath is the answer for one port of one Service and one identity
// serving it.
type AccessPath struct {
	Service ServiceRef
	// Weight is the backend's weight in the split; 0 without one.
	Weight uint32
	Port   ServicePort
	// NoPort is set when a split's backend has no port for the root's port:
	// the sidecar then sends it nothing.
	NoPort bool
	// Destination serves the Service; zero when no pod does.
	Destination identity.Identity
	Allowed     bool
	// Permissive admitted the request (permissive traffic policy mode).
	Permissive bool
	// Rule is the TrafficTarget rule that admitted the request; nil otherwise.
	Rule *InboundRule
	// Ingress is the IngressBackend rule that admits a source from outside the
	// mesh; nil otherwise. RequiresCertificate then says whether the source
	// must present a certificate the mesh roots sign (named one of the rule's
	// SourcePrincipals when it has some).
	Ingress             *IngressRule
	RequiresCertificate bool
	// Matches are the HTTP matches that admit the request (with HTTP nil,
	// every match of the admitting rules); empty when AllTraffic or a TCP port.
	Matches []HTTPMatch
	// Rules are the TrafficTarget rules on the port, and IngressRules the
	// IngressBackend rules, whether they admitted the request or not, so that
	// a denial can say what exists.
	Rules        []InboundRule
	IngressRules []*IngressRule
}

// CheckAccess answers req from the model, with the semantics the generator
// writes into Envoy: a mesh source is admitted by permissive mode or by a
// TrafficTarget rule naming it (a TCPRoute admits the whole port, an
// HTTPRouteGroup match the requests it matches); a source outside the mesh
// only by an IngressBackend whose source addresses include it. A split's root
// stands for its backends (the port of the same number, else the same name),
// as the source's sidecar sends them the traffic.
func (m *Model) CheckAccess(req AccessRequest) AccessResult {
	svc := m.Service(req.Service)
	res := AccessResult{Service: svc}
	if svc == nil {
		return res
	}
	for _, p := range svc.Ports {
		if req.Port != 0 && p.Port != req.Port {
			continue
		}
		if svc.Split == nil {
			res.Paths = append(res.Paths, m.checkPort(req, svc, p, 0)...)
			continue
		}
		res.Split = svc.Split
		for _, be := range svc.Split.Backends {
			b := m.Service(be.Service)
			if b == nil || be.Weight == 0 {
				continue
			}
			bp, ok := b.SplitBackendPort(p)
			if !ok {
				res.Paths = append(res.Paths, AccessPath{Service: b.ServiceRef, Weight: be.Weight, Port: p, NoPort: true})
				continue
			}
			res.Paths = append(res.Paths, m.checkPort(req, b, bp, be.Weight)...)
		}
	}
	return res
}

// checkPort answers for each identity serving one port of svc.
func (m *Model) checkPort(req AccessRequest, svc *Service, port ServicePort, weight uint32) []AccessPath {
	base := AccessPath{Service: svc.ServiceRef, Weight: weight, Port: port}
	for _, r := range m.IngressRules {
		if r.Backend == svc.ServiceRef && r.Port.Port == port.Port {
			base.IngressRules = append(base.IngressRules, r)
		}
	}
	if len(svc.Identities) == 0 {
		return []AccessPath{base}
	}
	var out []AccessPath
	for _, dest := range svc.Identities {
		p := base
		p.Destination = dest
		if v := m.Identity(dest); v != nil {
			for _, in := range v.Inbound {
				if in.Service == svc.ServiceRef && in.Port.Port == port.Port {
					p.Rules = in.Rules
					p.Permissive = in.AllowAll
				}
			}
		}
		// A gateway's proxies are of the mesh even before weftd has made its
		// service account.
		if req.Source == (identity.Identity{}) || (m.Identity(req.Source) == nil && m.Gateway(req.Source) == nil) {
			p.Permissive = false
			p.admitIngress(req)
		} else {
			p.admitMesh(req)
		}
		out = append(out, p)
	}
	return out
}

// admitMesh decides for a mesh source: permissive mode, else the first
// TrafficTarget rule (by policy) that names the source and admits the request.
func (p *AccessPath) admitMesh(req AccessRequest) {
	if p.Permissive {
		p.Allowed = true
		return
	}
	for i := range p.Rules {
		r := &p.Rules[i]
		if !slices.Contains(r.Sources, req.Source) {
			continue
		}
		if r.AllTraffic {
			p.Allowed, p.Rule = true, r
			return
		}
		if ms := admitting(r.HTTPMatches, req.HTTP); len(ms) > 0 {
			p.Allowed, p.Rule, p.Matches = true, r, ms
			return
		}
	}
}

// admitIngress decides for a source outside the mesh: an IngressBackend rule
// on the port whose source addresses include it (or that has none, on an
// https port, where the certificate decides) and whose HTTP matches, if any,
// admit the request.
func (p *AccessPath) admitIngress(req AccessRequest) {
	for _, r := range p.IngressRules {
		tls := r.Protocol == ProtocolHTTPS
		if len(r.SourceIPRanges) == 0 && !tls {
			continue // the generator leaves such a rule out: it would admit anyone
		}
		if len(r.SourceIPRanges) > 0 && !containsAddr(r.SourceIPRanges, req.SourceIP) {
			continue
		}
		var ms []HTTPMatch
		if r.Protocol != ProtocolTCP && r.Port.Protocol.IsHTTP() && len(r.HTTPMatches) > 0 {
			if ms = admitting(r.HTTPMatches, req.HTTP); len(ms) == 0 {
				continue
			}
		}
		p.Allowed, p.Ingress, p.Matches = true, r, ms
		p.RequiresCertificate = tls && !r.SkipClientCertValidation
		return
	}
}

func containsAddr(ranges []netip.Prefix, a netip.Addr) bool {
	if !a.IsValid() {
		return false
	}
	a = a.Unmap()
	return slices.ContainsFunc(ranges, func(p netip.Prefix) bool { return p.Contains(a) })
}

// admitting returns the matches that admit req: all of them when req is nil.
func admitting(ms []HTTPMatch, req *HTTPRequest) []HTTPMatch {
	if req == nil {
		return ms
	}
	var out []HTTPMatch
	for _, m := range ms {
		if m.Admits(*req) {
			out = append(out, m)
		}
	}
	return out
}

// Admits reports whether r meets every condition of m, as Envoy evaluates the
// route and RBAC matchers the generator writes from it: PathRegex matches the
// whole path without its query, the method is one of Methods, and each
// header's regular expression matches the whole value (Host as the
// authority). A regular expression that does not compile admits nothing, as
// the generator leaves such a match out.
func (m HTTPMatch) Admits(r HTTPRequest) bool {
	path, _, _ := strings.Cut(r.Path, "?")
	if m.PathRegex != "" && !fullMatch(m.PathRegex, path) {
		return false
	}
	if len(m.Methods) > 0 && !slices.Contains(m.Methods, r.Method) {
		return false
	}
	for _, h := range m.Headers {
		v, ok := header(r.Headers, h.Name)
		if !ok || !fullMatch(h.ValueRegex, v) {
			return false
		}
	}
	return true
}

// header finds a request header by its lower-case name; of names differing
// only in case, the first in order wins, so that the answer does not vary.
func header(hs map[string]string, name string) (string, bool) {
	keys := slices.Sorted(maps.Keys(hs))
	for _, k := range keys {
		if l := strings.ToLower(k); l == name || (name == "host" && l == ":authority") {
			return hs[k], true
		}
	}
	return "", false
}

func fullMatch(re, s string) bool {
	c, err := regexp.Compile("^(?:" + re + ")$")
	return err == nil && c.MatchString(s)
}
