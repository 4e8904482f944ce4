package envoy

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"

	accesslogv3 "github.com/envoyproxy/go-control-plane/envoy/config/accesslog/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
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
	// ProxyGateway is the Envoy of a Gateway of Weft's class
	// (catalog.Gateway): listeners on the Gateway's ports (see gateway.go).
	ProxyGateway ProxyKind = "gateway"
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
	// Metrics gives a sidecar the Prometheus listener on 15010 (and the
	// cluster it reads Envoy's stats through): as OSM, only for pods that
	// ask to be scraped (catalog.Model.MetricsEnabled).
	Metrics bool
}

// Resources are the Envoy resources of one proxy, each list sorted by name.
// Resources of several proxies of one Generator may share messages: none may
// be modified.
type Resources struct {
	Listeners []*listenerv3.Listener
	Routes    []*routev3.RouteConfiguration
	Clusters  []*clusterv3.Cluster
	Endpoints []*endpointv3.ClusterLoadAssignment
	// Secrets are the names of the SDS secrets the listeners and clusters
	// reference (see ParseSecretName); the xDS server fills them from the CA.
	Secrets []string
	// GatewaySecrets are the SDS secrets whose content the model holds: a
	// gateway's listener certificates (GatewayCertSecretName), by name.
	GatewaySecrets []*tlsv3.Secret
}

// Generate builds the resources of proxy p from the mesh model m:
// NewGenerator(m).Generate(p), for one proxy.
func Generate(m *catalog.Model, p Proxy) (*Resources, error) {
	return NewGenerator(m).Generate(p)
}

// Generator generates the proxies of one mesh model. What does not depend on
// the proxy's identity (a Service port's ClusterLoadAssignment, most of its
// cluster, the Prometheus listener...) it builds once, on first use, and
// shares between the proxies it generates. It is safe for concurrent use.
type Generator struct {
	model *catalog.Model
	// trustDomain is the model's, read once.
	trustDomain string

	// What the proxies share (see doc.go).
	fixedOnce   cache[struct{}, *fixed]
	meshHTTP    cache[struct{}, *meshHTTP]
	upstreams   cache[servicePort, *upstream]
	assignments cache[servicePort, *endpointv3.ClusterLoadAssignment]
	rdsFilters  cache[string, *listenerv3.Filter]
}

// NewGenerator returns the Generator of model m, which Generate reads and
// never modifies.
func NewGenerator(m *catalog.Model) *Generator {
	g := &Generator{model: m}
	if m != nil {
		g.trustDomain = m.Settings.TrustDomain
	}
	return g
}

// Generate builds the resources of proxy p. A proxy whose identity is not in
// the model gets what an identity with no Service and no permission gets
// (deny by default, egress as the mesh says). The error is for a model or
// proxy it cannot read, never for a policy: the catalog has already skipped
// those.
//
// It plans what the proxy reaches (plan), then builds each type in its own
// pass from that plan.
func (g *Generator) Generate(p Proxy) (*Resources, error) {
	m := g.model
	if m == nil {
		return nil, errors.New("envoy: no mesh model")
	}
	if p.Kind != "" && p.Kind != ProxySidecar && p.Kind != ProxyGRPC && p.Kind != ProxyGateway {
		return nil, fmt.Errorf("envoy: proxy %s: kind %q is not supported", p.Identity, p.Kind)
	}
	if p.Identity.Namespace == "" || p.Identity.ServiceAccount == "" {
		return nil, fmt.Errorf("envoy: proxy identity %q needs a namespace and a name", p.Identity)
	}
	view := m.Identity(p.Identity)
	if view == nil {
		view = &catalog.IdentityView{Identity: p.Identity, EgressPassthrough: m.Settings.EgressPassthrough}
	}
	if g.trustDomain == "" || m.Settings.ClusterDomain == "" {
		return nil, errors.New("envoy: the mesh model has no trust domain or cluster domain (catalog.Build takes them from the mesh configuration)")
	}
	pg := &gen{Generator: g, proxy: p, view: view}
	if p.Kind == ProxyGateway {
		r := generateGateway(pg)
		if pg.err != nil {
			return nil, fmt.Errorf("envoy: proxy %s: %w", p.Identity, pg.err)
		}
		return r, nil
	}
	if p.Kind == ProxyGRPC {
		r := generateGRPC(pg)
		if pg.err != nil {
			return nil, fmt.Errorf("envoy: proxy %s: %w", p.Identity, pg.err)
		}
		return r, nil
	}
	pg.makePlan()
	r := &Resources{
		Listeners: sortedByName(pg.listeners(), (*listenerv3.Listener).GetName),
		Routes:    sortedByName(pg.routes(), (*routev3.RouteConfiguration).GetName),
		Clusters:  sortedByName(pg.clusters(), (*clusterv3.Cluster).GetName),
		Endpoints: sortedByName(pg.endpoints(), (*endpointv3.ClusterLoadAssignment).GetClusterName),
		Secrets:   pg.secrets(),
	}
	if pg.err != nil {
		return nil, fmt.Errorf("envoy: proxy %s: %w", p.Identity, pg.err)
	}
	return r, nil
}

// gen holds one Generate call's working state. The gen that builds what a
// Generator shares (see shared) has no view and no plan, so that nothing it
// builds can depend on a proxy.
type gen struct {
	*Generator
	proxy Proxy
	view  *catalog.IdentityView
	plan  *plan
	err   error
}

// any packs a message, recording the first error (a string that is not
// UTF-8, say) so that Generate reports it instead of panicking. It marshals
// deterministically: the xDS server versions resources by their bytes, and
// map fields (RBAC policies) would otherwise come out in a different order
// each time, making equal configuration look changed.
func (g *gen) any(m proto.Message) *anypb.Any {
	a := &anypb.Any{}
	err := anypb.MarshalFrom(a, m, proto.MarshalOptions{Deterministic: true})
	if err != nil {
		g.fail(err)
		return &anypb.Any{}
	}
	return a
}

func (g *gen) fail(err error) {
	if g.err == nil && err != nil {
		g.err = err
	}
}

// fixed are the resources every proxy has alike.
type fixed struct {
	prometheus           *listenerv3.Listener
	metrics, passthrough *clusterv3.Cluster
	// tracing is the collector's cluster; nil when tracing is off.
	tracing *clusterv3.Cluster
}

func (g *gen) fixed() *fixed {
	return shared(g, &g.fixedOnce, struct{}{}, func(mg *gen) *fixed {
		return &fixed{
			prometheus:  mg.prometheusListener(),
			metrics:     staticCluster(MetricsClusterName, "127.0.0.1", AdminPort),
			tracing:     mg.tracingCluster(),
			passthrough: mg.newPassthroughCluster(),
		}
	})
}

// meshHTTP is what every HTTP connection manager of mesh traffic carries
// alike: the access log and, when on, tracing.
type meshHTTP struct {
	accessLog []*accesslogv3.AccessLog
	tracing   *hcmv3.HttpConnectionManager_Tracing
}

func (g *gen) meshHTTP() *meshHTTP {
	return shared(g, &g.Generator.meshHTTP, struct{}{}, func(mg *gen) *meshHTTP {
		return &meshHTTP{accessLog: mg.accessLog(), tracing: mg.tracing()}
	})
}

// cache holds what a Generator shares, by key. Nothing in it is modified
// once stored.
type cache[K comparable, V any] struct{ m sync.Map }

type cached[V any] struct {
	v   V
	err error
}

// shared returns c's value for k, built on first use by build with a gen
// that has no proxy; the error building it met is g's too. Two goroutines may
// both build a missing value: the first stored is the one every caller gets.
func shared[K comparable, V any](g *gen, c *cache[K, V], k K, build func(mg *gen) V) V {
	e, ok := c.m.Load(k)
	if !ok {
		mg := &gen{Generator: g.Generator}
		e, _ = c.m.LoadOrStore(k, cached[V]{build(mg), mg.err})
	}
	v := e.(cached[V])
	g.fail(v.err)
	return v.v
}

// servicePort is a port of a Service of the model, the key of what the
// Generator shares about it.
type servicePort struct {
	svc  *catalog.Service
	port catalog.ServicePort
}

func sortedByName[T any](s []T, name func(T) string) []T {
	slices.SortFunc(s, func(a, b T) int { return cmp.Compare(name(a), name(b)) })
	return s
}
