package main

import (
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/identity"
)

// answer writes `weft policy check`'s answer: the verdict and the policy, or
// its absence, that decides it.
type answer struct {
	out  io.Writer
	snap *meshSnapshot
	src  source
	req  *catalog.HTTPRequest
}

func (w *answer) line(format string, args ...any) { fmt.Fprintf(w.out, format+"\n", args...) }

func (w *answer) subject() string {
	return fmt.Sprintf("pod %s/%s (identity %s)", w.src.pod.Namespace, w.src.pod.Name, w.src.id)
}

// outside answers for a destination that is not a Service of the mesh.
func (w *answer) outside(dest catalog.ServiceRef) bool {
	why := fmt.Sprintf("service %s is not in the mesh (it does not exist, or namespace %s is not monitored by mesh %s)", dest, dest.Namespace, w.snap.cfg.Name)
	switch {
	case !w.src.inMesh:
		w.line("not decided by the mesh: neither the source pod nor %s is in the mesh", why[len("service "):])
		return true
	case w.snap.model.Settings.EgressPassthrough:
		w.line("allowed: %s; egress passthrough is on (%s), so the sidecar lets the traffic out", why, w.snap.meshConfigName())
		return true
	}
	w.line("denied: %s; egress passthrough is off (%s), so only an Egress policy naming its address or host lets %s reach it", why, w.snap.meshConfigName(), w.subject())
	return false
}

// result writes the verdict over every path, then each path's reason.
func (w *answer) result(dest catalog.ServiceRef, res catalog.AccessResult) bool {
	allowed := res.Allowed()
	any := slices.ContainsFunc(res.Paths, func(p catalog.AccessPath) bool { return p.Allowed })
	if len(res.Paths) == 1 && res.Split == nil {
		w.line("%s", w.reason(res.Paths[0]))
		w.context(dest, res)
		return allowed
	}
	switch {
	case allowed:
		w.line("allowed")
	case any:
		w.line("denied for part of the traffic")
	default:
		w.line("denied")
	}
	w.context(dest, res)
	var total uint64
	if res.Split != nil {
		for _, b := range res.Split.Backends {
			total += uint64(b.Weight)
		}
	}
	for _, p := range res.Paths {
		where := fmt.Sprintf("%s port %d (%s)", p.Service, p.Port.Port, p.Port.Protocol)
		if res.Split != nil && total > 0 {
			where += fmt.Sprintf(", %s of the split", percent(p.Weight, total))
		}
		if p.Destination != (identity.Identity{}) {
			where += ", served by " + p.Destination.String()
		}
		w.line("  %s: %s", where, w.reason(p))
	}
	return allowed
}

func percent(w uint32, total uint64) string {
	pct := float64(w) * 100 / float64(total)
	if pct == float64(int(pct)) {
		return fmt.Sprintf("%d%%", int(pct))
	}
	return fmt.Sprintf("%.1f%%", pct)
}

// context says what was checked.
func (w *answer) context(dest catalog.ServiceRef, res catalog.AccessResult) {
	w.line("  source: %s", w.subject())
	d := "service " + dest.String()
	if len(res.Paths) == 1 && res.Split == nil {
		p := res.Paths[0]
		d += fmt.Sprintf(" port %d (%s)", p.Port.Port, p.Port.Protocol)
		if p.Destination != (identity.Identity{}) {
			d += ", served by identity " + p.Destination.String()
		}
	}
	if res.Split != nil {
		d += fmt.Sprintf(", split by TrafficSplit %s/%s among its backends", res.Split.Policy.Namespace, res.Split.Policy.Name)
	}
	w.line("  destination: %s", d)
	if w.req != nil {
		w.line("  request: %s", describeRequest(w.req))
	}
}

func describeRequest(r *catalog.HTTPRequest) string {
	s := r.Method + " " + r.Path
	var hs []string
	for k, v := range r.Headers {
		hs = append(hs, k+": "+v)
	}
	slices.Sort(hs)
	if len(hs) > 0 {
		s += " [" + strings.Join(hs, ", ") + "]"
	}
	return s
}

// reason says why one path is allowed or denied.
func (w *answer) reason(p catalog.AccessPath) string {
	switch {
	case p.NoPort:
		return fmt.Sprintf("gets none of this traffic: service %s has no port %d or named %s, the root's", p.Service, p.Port.Port, p.Port.Name)
	case p.Permissive:
		return fmt.Sprintf("allowed: permissive traffic policy mode is on (%s)", w.snap.meshConfigName())
	case p.Rule != nil && p.Rule.Policy.Kind == "Gateway":
		return fmt.Sprintf("allowed by Gateway %s/%s: the source is the Gateway's identity and its HTTPRoutes reach port %d (all traffic; no IngressBackend or TrafficTarget needed)",
			p.Rule.Policy.Namespace, p.Rule.Policy.Name, p.Port.Port)
	case p.Rule != nil:
		return fmt.Sprintf("allowed by TrafficTarget %s/%s (%s)", p.Rule.Policy.Namespace, p.Rule.Policy.Name, w.ruleDetail(p))
	case p.Ingress != nil:
		return "allowed by " + ingressDetail(p)
	case !w.src.inMesh:
		return w.notInMesh(p)
	case p.Destination == (identity.Identity{}):
		return fmt.Sprintf("denied: no pod serves service %s, so there is no identity to admit the source", p.Service)
	}
	return w.denied(p)
}

func (w *answer) ruleDetail(p catalog.AccessPath) string {
	if p.Rule.AllTraffic {
		routes := w.tcpRoutes(p.Rule.Policy)
		return fmt.Sprintf("rule %s: all traffic on port %d", strings.Join(routes, ", "), p.Port.Port)
	}
	if w.req == nil {
		return "only requests its rule admits: " + describeMatches(p.Matches) + "; give --path and --method to check one"
	}
	return "rule " + describeMatches(p.Matches)
}

// tcpRoutes names the TCPRoute rules of a TrafficTarget, which the model
// folds into "all traffic on the port".
func (w *answer) tcpRoutes(tt catalog.ObjectRef) []string {
	var out []string
	for _, t := range w.snap.state.TrafficTargets {
		if t.Namespace != tt.Namespace || t.Name != tt.Name {
			continue
		}
		for _, r := range t.Spec.Rules {
			if r.Kind == "TCPRoute" {
				out = append(out, "TCPRoute "+t.Namespace+"/"+r.Name)
			}
		}
	}
	if len(out) == 0 {
		out = []string{"TCPRoute"}
	}
	return out
}

// describeMatches writes HTTP matches grouped by route group:
// "HTTPRouteGroup ns/name match a: GET /path; match b: ...".
func describeMatches(ms []catalog.HTTPMatch) string {
	var groups []string
	var last catalog.ObjectRef
	for i, m := range ms {
		s := fmt.Sprintf("match %s: %s", m.Name, describeMatch(m))
		if i == 0 || m.RouteGroup != last {
			s = fmt.Sprintf("HTTPRouteGroup %s/%s %s", m.RouteGroup.Namespace, m.RouteGroup.Name, s)
			groups = append(groups, s)
		} else {
			groups[len(groups)-1] += "; " + s
		}
		last = m.RouteGroup
	}
	return strings.Join(groups, "; ")
}

func describeMatch(m catalog.HTTPMatch) string {
	methods := "*"
	if len(m.Methods) > 0 {
		methods = strings.Join(m.Methods, "|")
	}
	path := m.PathRegex
	if path == "" {
		path = "(any path)"
	}
	s := methods + " " + path
	var hs []string
	for _, h := range m.Headers {
		hs = append(hs, h.Name+": "+h.ValueRegex)
	}
	if len(hs) > 0 {
		s += " [" + strings.Join(hs, ", ") + "]"
	}
	return s
}

func ingressDetail(p catalog.AccessPath) string {
	r := p.Ingress
	s := fmt.Sprintf("IngressBackend %s/%s (%s", r.Policy.Namespace, r.Policy.Name, r.Protocol)
	if len(r.SourceServices) > 0 {
		var svcs []string
		for _, x := range r.SourceServices {
			svcs = append(svcs, x.String())
		}
		s += ", from the addresses of service " + strings.Join(svcs, ", ")
	} else if len(r.SourceIPRanges) > 0 {
		s += ", from its source address ranges"
	}
	if len(p.Matches) > 0 {
		s += ", " + describeMatches(p.Matches)
	}
	s += ")"
	switch {
	case p.RequiresCertificate && len(r.SourcePrincipals) > 0:
		s += "; the client must present a certificate the mesh roots sign, named " + strings.Join(r.SourcePrincipals, " or ")
	case p.RequiresCertificate:
		s += "; the client must present a certificate the mesh roots sign"
	}
	return s
}

// notInMesh says why a source outside the mesh is denied.
func (w *answer) notInMesh(p catalog.AccessPath) string {
	s := fmt.Sprintf("denied: source pod is not in the mesh (namespace %s not monitored by mesh %s)", w.src.pod.Namespace, w.snap.cfg.Name)
	if len(p.IngressRules) == 0 {
		return s + ", and no IngressBackend admits traffic from outside the mesh to this port"
	}
	var rs []string
	for _, r := range p.IngressRules {
		d := fmt.Sprintf("IngressBackend %s/%s (%s", r.Policy.Namespace, r.Policy.Name, r.Protocol)
		if len(r.SourceIPRanges) > 0 {
			var ranges []string
			for _, x := range r.SourceIPRanges {
				ranges = append(ranges, x.String())
			}
			d += ", from " + strings.Join(ranges, ", ")
		}
		if len(r.SourceServices) > 0 {
			var svcs []string
			for _, x := range r.SourceServices {
				svcs = append(svcs, x.String())
			}
			d += " (the addresses of service " + strings.Join(svcs, ", ") + " among them)"
		}
		if len(r.HTTPMatches) > 0 {
			d += ", requests matching " + describeMatches(r.HTTPMatches)
		}
		rs = append(rs, d+")")
	}
	addr := "the pod, which has no address"
	if w.src.ip.IsValid() {
		addr = "the pod's address " + w.src.ip.String()
	}
	what := addr
	if w.req != nil {
		what += " with this request"
	}
	return s + fmt.Sprintf("; %s admits traffic from outside the mesh to this port, but not %s", strings.Join(rs, "; "), what)
}

// denied says why a mesh source is denied: no TrafficTarget names it, or the
// ones that do admit other requests.
func (w *answer) denied(p catalog.AccessPath) string {
	var naming, others []string
	for _, r := range p.Rules {
		name := fmt.Sprintf("%s %s/%s", r.Policy.Kind, r.Policy.Namespace, r.Policy.Name)
		if slices.Contains(r.Sources, w.src.id) {
			naming = append(naming, fmt.Sprintf("%s (%s)", name, describeMatches(r.HTTPMatches)))
			continue
		}
		var srcs []string
		for _, s := range r.Sources {
			srcs = append(srcs, s.String())
		}
		others = append(others, fmt.Sprintf("%s (sources %s)", name, strings.Join(srcs, ", ")))
	}
	switch {
	case len(naming) > 0:
		return fmt.Sprintf("denied: the request matches no rule of the TrafficTargets naming source identity %s for destination %s: %s",
			w.src.id, p.Destination, strings.Join(naming, "; "))
	case len(others) > 0:
		return fmt.Sprintf("denied: no TrafficTarget names source identity %s for destination %s; these TrafficTargets name the destination: %s",
			w.src.id, p.Destination, strings.Join(others, "; "))
	}
	return fmt.Sprintf("denied: no TrafficTarget names destination %s on port %d, and permissive traffic policy mode is off (%s)",
		p.Destination, p.Port.Port, w.snap.meshConfigName())
}
