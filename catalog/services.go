package catalog

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/weft-mesh/weft/pkg/identity"
)

// buildServices reads the Services, their ports and their endpoints, and who
// serves them.
func (b *builder) buildServices() {
	bySvc := b.slicesByService()
	selectable := b.podsByLabel()
	b.serves = map[identity.Identity][]*Service{}
	for _, svc := range b.state.Services {
		if svc == nil || svc.Name == "" || svc.Namespace == "" {
			continue
		}
		ref := ServiceRef{svc.Namespace, svc.Name}
		mesh := b.monitored[svc.Namespace]
		if _, dup := b.services[ref]; dup {
			continue
		}
		if _, dup := b.outside[ref]; dup {
			continue
		}
		if svc.Spec.Type == corev1.ServiceTypeExternalName {
			// A DNS alias of an outside host: no address or endpoint to match it
			// by. OSM built no outbound chain for it either (no destination IP).
			b.externalNames[ref] = true
			if mesh {
				b.problems.add(ObjectRef{"Service", ref.Namespace, ref.Name}, "spec.type",
					"an ExternalName Service is not meshed: traffic to %s leaves the mesh through an Egress policy for that host or egress passthrough (traffic.enableEgress); Service skipped", svc.Spec.ExternalName)
			}
			continue
		}
		s := &Service{ServiceRef: ref}
		s.Headless = svc.Spec.ClusterIP == corev1.ClusterIPNone
		if !s.Headless {
			for _, ip := range svc.Spec.ClusterIPs {
				if ip != "" && ip != corev1.ClusterIPNone {
					s.ClusterIPs = append(s.ClusterIPs, ip)
				}
			}
			if len(s.ClusterIPs) == 0 && svc.Spec.ClusterIP != "" {
				s.ClusterIPs = []string{svc.Spec.ClusterIP}
			}
		}
		s.Ports = b.servicePorts(svc, mesh)
		if mesh {
			b.reportUnaddressable(s)
		}
		s.Endpoints = b.endpoints(s, bySvc[ref])
		if !mesh {
			b.outside[ref] = s
			continue
		}
		ids := map[identity.Identity]bool{}
		for _, ep := range s.Endpoints {
			if ep.Identity != (identity.Identity{}) {
				ids[ep.Identity] = true
			}
		}
		for _, p := range selectable.match(svc.Namespace, svc.Spec.Selector) {
			ids[identity.FromPod(p)] = true
		}
		for id := range ids {
			s.Identities = append(s.Identities, id)
			b.serves[id] = append(b.serves[id], s)
		}
		slices.SortFunc(s.Identities, identity.Compare)
		b.services[ref] = s
	}
	for id := range b.serves {
		slices.SortFunc(b.serves[id], func(a, c *Service) int { return compareServices(a.ServiceRef, c.ServiceRef) })
	}
}

// reportUnaddressable reports the ports of a Service without a cluster IP
// (files that leave it out: the API server always assigns one) that clients
// cannot reach through the mesh: a TCP connection has nothing but its address
// to match, while HTTP ports are still routed by Host.
func (b *builder) reportUnaddressable(s *Service) {
	if s.Headless || len(s.ClusterIPs) > 0 {
		return
	}
	var ports []string
	for _, p := range s.Ports {
		if !p.Protocol.IsHTTP() {
			ports = append(ports, fmt.Sprintf("%d (%s)", p.Port, p.Protocol))
		}
	}
	if len(ports) > 0 {
		b.problems.add(ObjectRef{"Service", s.Namespace, s.Name}, "spec.clusterIP",
			"no cluster IP (a cluster assigns one; files must write it), so meshed clients cannot reach port %s, which only an address matches", strings.Join(ports, ", "))
	}
}

// missingService says why ref is not a Service of the model.
func (b *builder) missingService(ref ServiceRef) string {
	if b.externalNames[ref] {
		return "service " + ref.String() + " is an ExternalName Service, which is not meshed"
	}
	return "service " + ref.String() + " does not exist"
}

func (b *builder) servicePorts(svc *corev1.Service, mesh bool) []ServicePort {
	obj := ObjectRef{"Service", svc.Namespace, svc.Name}
	var ports []ServicePort
	seen := map[int32]bool{}
	for i, p := range svc.Spec.Ports {
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue // UDP and SCTP are not meshed
		}
		if p.Port < 1 || p.Port > 65535 || seen[p.Port] {
			if mesh {
				b.problems.add(obj, fieldIndex("spec.ports", i, "port"), "port %d is not a valid, unique port; skipped", p.Port)
			}
			continue
		}
		seen[p.Port] = true
		sp := ServicePort{Name: p.Name, Port: p.Port, Protocol: portProtocol(p)}
		switch {
		case p.TargetPort.Type == intstr.String && p.TargetPort.StrVal != "":
			sp.TargetPortName = p.TargetPort.StrVal
		case p.TargetPort.Type == intstr.Int && p.TargetPort.IntVal > 0 && p.TargetPort.IntVal <= 65535:
			sp.TargetPort = p.TargetPort.IntVal
		default:
			sp.TargetPort = p.Port
		}
		ports = append(ports, sp)
	}
	slices.SortFunc(ports, func(a, c ServicePort) int { return cmp.Compare(a.Port, c.Port) })
	return ports
}

// portProtocol reads a port's protocol from its appProtocol, else from its name's
// prefix (http, http2, grpc, tcp, tcp-server-first, followed by "-" or nothing),
// else http, as OSM does.
func portProtocol(p corev1.ServicePort) Protocol {
	if p.AppProtocol != nil {
		switch strings.ToLower(*p.AppProtocol) {
		case "http", "kubernetes.io/http":
			return ProtocolHTTP
		case "http2", "h2c", "kubernetes.io/h2c":
			return ProtocolHTTP2
		case "grpc":
			return ProtocolGRPC
		case "tcp":
			return ProtocolTCP
		case "tcp-server-first":
			return ProtocolTCPServerFirst
		}
	}
	name := strings.ToLower(p.Name)
	for _, proto := range []Protocol{ProtocolTCPServerFirst, ProtocolHTTP2, ProtocolHTTP, ProtocolGRPC, ProtocolTCP} {
		if name == string(proto) || strings.HasPrefix(name, string(proto)+"-") {
			return proto
		}
	}
	return ProtocolHTTP
}

func (b *builder) slicesByService() map[ServiceRef][]*discoveryv1.EndpointSlice {
	out := map[ServiceRef][]*discoveryv1.EndpointSlice{}
	for _, es := range b.state.EndpointSlices {
		if es == nil {
			continue
		}
		name := es.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		ref := ServiceRef{es.Namespace, name}
		out[ref] = append(out[ref], es)
	}
	return out
}

// endpoints lists one Endpoint per address and service port.
func (b *builder) endpoints(s *Service, eslices []*discoveryv1.EndpointSlice) []Endpoint {
	byName := map[string]bool{}
	for _, p := range s.Ports {
		byName[p.Name] = true
	}
	var eps []Endpoint
	for _, es := range eslices {
		if es.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		for _, ep := range es.Endpoints {
			base := Endpoint{Ready: true, Serving: true}
			if ep.Conditions.Ready != nil {
				base.Ready = *ep.Conditions.Ready
			}
			base.Serving = base.Ready
			if ep.Conditions.Serving != nil {
				base.Serving = *ep.Conditions.Serving
			}
			if ep.Conditions.Terminating != nil {
				base.Terminating = *ep.Conditions.Terminating
			}
			if ep.TargetRef != nil && ep.TargetRef.Kind == "Pod" && (ep.TargetRef.Namespace == "" || ep.TargetRef.Namespace == es.Namespace) {
				base.PodName = ep.TargetRef.Name
				if p := b.pods[podKey{es.Namespace, ep.TargetRef.Name}]; p != nil {
					base.Identity = identity.FromPod(p)
				}
			}
			if ep.Hostname != nil {
				base.Hostname = *ep.Hostname
				if s.Headless && base.Hostname != "" {
					base.DNSName = base.Hostname + "." + s.ServiceRef.FQDN(b.settings.ClusterDomain)
				}
			}
			if ep.NodeName != nil {
				base.NodeName = *ep.NodeName
			}
			if ep.Zone != nil {
				base.Zone = *ep.Zone
			}
			for _, ip := range ep.Addresses {
				for _, port := range es.Ports {
					name := ""
					if port.Name != nil {
						name = *port.Name
					}
					if !byName[name] || port.Port == nil || *port.Port < 1 || *port.Port > 65535 {
						continue
					}
					if port.Protocol != nil && *port.Protocol != corev1.ProtocolTCP {
						continue
					}
					e := base
					e.IP, e.PortName, e.Port = ip, name, *port.Port
					eps = append(eps, e)
				}
			}
		}
	}
	slices.SortFunc(eps, func(a, c Endpoint) int {
		return cmp.Or(cmp.Compare(a.IP, c.IP), cmp.Compare(a.PortName, c.PortName), cmp.Compare(a.Port, c.Port))
	})
	return slices.CompactFunc(eps, func(a, c Endpoint) bool {
		return a.IP == c.IP && a.PortName == c.PortName && a.Port == c.Port
	})
}

// podIndex finds pods by label selector quickly: pods by namespace and by one
// "key=value" label.
type podIndex map[string]map[string][]*corev1.Pod

func (b *builder) podsByLabel() podIndex {
	idx := podIndex{}
	for _, p := range b.state.Pods {
		if p == nil || !b.monitored[p.Namespace] || p.Name == "" {
			continue
		}
		byLabel := idx[p.Namespace]
		if byLabel == nil {
			byLabel = map[string][]*corev1.Pod{}
			idx[p.Namespace] = byLabel
		}
		for k, v := range p.Labels {
			byLabel[k+"="+v] = append(byLabel[k+"="+v], p)
		}
	}
	return idx
}

// match returns the pods of ns that the selector selects; an empty selector
// selects nothing, as for a Service.
func (idx podIndex) match(ns string, selector map[string]string) []*corev1.Pod {
	if len(selector) == 0 {
		return nil
	}
	var smallest []*corev1.Pod
	first := true
	for k, v := range selector {
		c := idx[ns][k+"="+v]
		if first || len(c) < len(smallest) {
			smallest, first = c, false
		}
	}
	var out []*corev1.Pod
	for _, p := range smallest {
		ok := true
		for k, v := range selector {
			if pv, has := p.Labels[k]; !has || pv != v {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, p)
		}
	}
	return out
}

func fieldIndex(path string, i int, rest string) string {
	f := path + "[" + strconv.Itoa(i) + "]"
	if rest != "" {
		f += "." + rest
	}
	return f
}
