package envoy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/identity"
)

// ProxyKind is what runs the proxy.
type ProxyKind string

// Kinds of proxies.
const (
	// ProxySidecar is an Envoy sidecar whose traffic iptables redirects to the
	// outbound (15001) and inbound (15003) listeners.
	ProxySidecar ProxyKind = "sidecar"
	// ProxyGRPC is a proxyless gRPC workload: its gRPC library's xDS client
	// and server take the proxyless flavour (see grpc.go).
	ProxyGRPC ProxyKind = "grpc"
)

// Proxy is the proxy resources are generated for.
type Proxy struct {
	// Identity is the service account the proxy's pod runs as.
	Identity identity.Identity
	// IPs are the pod's addresses, when known. They choose the pod's own
	// endpoints when a Service's targetPort is a name (each pod may give it a
	// different number); without them any endpoint of the identity is used.
	IPs []string
	// Kind is ProxySidecar or ProxyGRPC; empty means ProxySidecar.
	Kind ProxyKind
}

// Resources are the Envoy resources of one proxy, each list sorted by name.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	// Secrets are the names of the SDS secrets the listeners and clusters
	// reference (see ParseSecretName); the xDS server fills them from the CA.
	Secrets []string
}

// Generate builds the resources of proxy p from the mesh model m. A proxy
// whose identity is not in the model gets what an identity with no Service
// and no permission gets (deny by default, egress as the mesh says). The error
// is for a model or proxy it cannot read, never for a policy: the catalog has
// already skipped those.
func Generate(m *catalog.Model, p Proxy) (*Resources, error) {
	if m == nil {
		return nil, errors.New("envoy: no mesh model")
	}
	if p.Kind != "" && p.Kind != ProxySidecar && p.Kind != ProxyGRPC {
		return nil, fmt.Errorf("envoy: proxy %s: kind %q is not supported", p.Identity, p.Kind)
	}
	if p.Identity.Namespace == "" || p.Identity.ServiceAccount == "" {
		return nil, fmt.Errorf("envoy: proxy identity %q needs a namespace and a name", p.Identity)
	}
	view := m.Identity(p.Identity)
	if view == nil {
		view = &catalog.IdentityView{Identity: p.Identity, EgressPassthrough: m.Settings.EgressPassthrough}
	}
	td := m.Settings.TrustDomain
	if td == "" || m.Settings.ClusterDomain == "" {
		return nil, errors.New("envoy: the mesh model has no trust domain or cluster domain (catalog.Build takes them from the mesh configuration)")
	}
	g := &gen{
		model:       m,
		proxy:       p,
		view:        view,
		trustDomain: td,
		clusters:    map[string]*clusterv3.Cluster{},
		routes:      map[string]*routev3.RouteConfiguration{},
		endpoints:   map[string]*endpointv3.ClusterLoadAssignment{},
		secrets:     map[string]bool{},
		domains:     map[string]map[string]bool{},
	}
	if p.Kind == ProxyGRPC {
		r := generateGRPC(g)
		if g.err != nil {
			return nil, fmt.Errorf("envoy: proxy %s: %w", p.Identity, g.err)
		}
		return r, nil
	}
	var listeners []*listenerv3.Listener
	for _, l := range append([]*listenerv3.Listener{g.outboundListener(), g.inboundListener(), g.prometheusListener()}, g.probeListeners()...) {
		if l != nil {
			listeners = append(listeners, l)
		}
	}
	if g.err != nil {
		return nil, fmt.Errorf("envoy: proxy %s: %w", p.Identity, g.err)
	}
	r := &Resources{
		Listeners: sortedByName(listeners, (*listenerv3.Listener).GetName),
		Routes:    sortedByName(values(g.routes), (*routev3.RouteConfiguration).GetName),
		Clusters:  sortedByName(values(g.clusters), (*clusterv3.Cluster).GetName),
		Endpoints: sortedByName(values(g.endpoints), (*endpointv3.ClusterLoadAssignment).GetClusterName),
	}
	for s := range g.secrets {
		r.Secrets = append(r.Secrets, s)
	}
	slices.Sort(r.Secrets)
	return r, nil
}

// gen holds one Generate call's working state.
type gen struct {
	model       *catalog.Model
	proxy       Proxy
	view        *catalog.IdentityView
	trustDomain string
	err         error

	clusters  map[string]*clusterv3.Cluster
	routes    map[string]*routev3.RouteConfiguration
	endpoints map[string]*endpointv3.ClusterLoadAssignment
	secrets   map[string]bool
	// domains are the virtual host domains taken in each route configuration.
	domains map[string]map[string]bool
}

// any packs a message, recording the first error (a string that is not
// UTF-8, say) so that Generate reports it instead of panicking.
func (g *gen) any(m proto.Message) *anypb.Any {
	a, err := anypb.New(m)
	if err != nil {
		if g.err == nil {
			g.err = err
		}
		return &anypb.Any{}
	}
	return a
}

func (g *gen) secret(name string) string {
	g.secrets[name] = true
	return name
}

func values[K comparable, V any](m map[K]V) []V {
	out := make([]V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	return out
}

func sortedByName[T any](s []T, name func(T) string) []T {
	slices.SortFunc(s, func(a, b T) int { return cmp.Compare(name(a), name(b)) })
	return s
}
