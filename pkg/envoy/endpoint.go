package envoy

import (
	"net/netip"

	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/weft-mesh/weft/catalog"
)

// endpoints is the endpoints pass: the ClusterLoadAssignments of the planned
// EDS clusters (Service ports that are not headless). They depend on the
// Service alone, so the Generator shares them.
func (g *gen) endpoints() []*endpointv3.ClusterLoadAssignment {
	var out []*endpointv3.ClusterLoadAssignment
	for _, sp := range g.plan.services {
		if !sp.svc.Headless {
			out = append(out, g.assignment(sp))
		}
	}
	return out
}

func (g *gen) assignment(sp servicePort) *endpointv3.ClusterLoadAssignment {
	return shared(g, &g.assignments, sp, func(*gen) *endpointv3.ClusterLoadAssignment {
		return loadAssignment(ClusterName(sp.svc.ServiceRef, sp.port.Port), sp.svc, sp.port)
	})
}

// loadAssignment lists a Service port's ready endpoints, each at its pod's
// port (which is how a named targetPort resolves), in one locality. Endpoints
// that are not ready are left out; an address that does not parse is
// skipped. gRPC refuses a locality without an ID or weight, so the locality
// has both; Envoy ignores them unless locality-weighted balancing is on,
// which it is not, so sidecars and proxyless workloads share the assignment.
func loadAssignment(cluster string, svc *catalog.Service, port catalog.ServicePort) *endpointv3.ClusterLoadAssignment {
	la := &endpointv3.ClusterLoadAssignment{ClusterName: cluster}
	var lbs []*endpointv3.LbEndpoint
	for _, ep := range readyEndpoints(svc, port) {
		lbs = append(lbs, &endpointv3.LbEndpoint{
			HealthStatus:   corev3.HealthStatus_HEALTHY,
			HostIdentifier: &endpointv3.LbEndpoint_Endpoint{Endpoint: &endpointv3.Endpoint{Address: socketAddress(ep.addr.String(), ep.port)}},
		})
	}
	if len(lbs) > 0 {
		la.Endpoints = []*endpointv3.LocalityLbEndpoints{{Locality: meshLocality, LoadBalancingWeight: wrapperspb.UInt32(1), LbEndpoints: lbs}}
	}
	return la
}

// meshLocality is every endpoint's locality: the catalog knows no zones yet.
var meshLocality = &corev3.Locality{Zone: "default"}

type readyEndpoint struct {
	addr netip.Addr
	port uint32
}

// readyEndpoints are the ready endpoints of a Service port with a usable
// address and port, in the catalog's order (by address), without duplicates.
func readyEndpoints(svc *catalog.Service, port catalog.ServicePort) []readyEndpoint {
	var out []readyEndpoint
	seen := map[readyEndpoint]bool{}
	for _, ep := range svc.Endpoints {
		if !ep.Ready || ep.PortName != port.Name || ep.Port < 1 || ep.Port > 65535 {
			continue
		}
		addr, err := netip.ParseAddr(ep.IP)
		if err != nil || addr.Zone() != "" {
			continue
		}
		r := readyEndpoint{addr.Unmap(), uint32(ep.Port)}
		if !seen[r] {
			seen[r] = true
			out = append(out, r)
		}
	}
	return out
}
