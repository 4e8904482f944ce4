package xds

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
)

// Certificates is what Mesh needs from the CA.
type Certificates interface {
	ServiceCertificate(ctx context.Context, id identity.Identity) (*ca.Certificate, error)
	Bundle() []byte
}

// Mesh computes proxies' configuration from the current mesh model (the pure
// generator in pkg/envoy) and fills the secrets it names from the CA. Its Config
// method is a ConfigFunc.
type Mesh struct {
	certs Certificates
	model atomic.Pointer[catalog.Model]

	// generated memoizes, per model, each identity's generated resources: every
	// proxy of an identity gets the same configuration, so a push to a thousand
	// proxies of a hundred identities generates a hundred times. The slices are
	// shared and never modified. generator is the model's, so that those
	// hundred share what does not depend on the identity.
	mu        sync.Mutex
	memoModel *catalog.Model
	generator *envoy.Generator
	generated map[generationKey]*generation

	// roots are the trust-bundle secrets (root-cert-for-mtls-*) built for
	// rootsBundle, by name. Their content is the bundle alone, so every
	// proxy that names one gets the same message, marshalled once: in
	// permissive mode every identity names one per Service. prevRoots are
	// those of the model before, moved over when named again, so that a
	// name no model uses any more is dropped after one model.
	rootsMu     sync.Mutex
	rootsBundle []byte
	rootsModel  *catalog.Model
	roots       map[string]types.Resource
	prevRoots   map[string]types.Resource
}

// generationKey: every proxy of one identity and kind, whose pod asks to be
// scraped or not, gets the same configuration.
type generationKey struct {
	id      identity.Identity
	kind    ca.ProxyKind
	metrics bool
}

type generation struct {
	once      sync.Once
	resources Resources // without secrets
	secrets   []string
	err       error

	// filled are the secrets last built, shared while the certificate and
	// bundle they hold are current.
	filledMu   sync.Mutex
	filled     []types.Resource
	filledCert *ca.Certificate
	filledRoot []byte
}

// NewMesh returns a Mesh with no model yet; proxies get nothing until SetModel.
func NewMesh(certs Certificates) *Mesh { return &Mesh{certs: certs} }

// SetModel makes next the current model and returns which proxies it affects:
// those of identities whose configuration inputs changed.
func (m *Mesh) SetModel(next *catalog.Model) func(ca.Proxy) bool {
	prev := m.model.Swap(next)
	changed := map[identity.Identity]bool{}
	for _, id := range next.ChangedIdentities(prev) {
		changed[id] = true
	}
	// A proxy of an identity in neither model is configured from the
	// settings alone: it changes when they do.
	unknown := next.UnknownIdentitiesChanged(prev)
	// A pod that starts or stops asking to be scraped gains or loses the
	// Prometheus listener.
	metrics := next.MetricsChanged(prev)
	return func(p ca.Proxy) bool {
		id := p.Identity
		return changed[id] || (unknown && next.Identity(id) == nil) || metrics[p.ID]
	}
}

// Model returns the current model, or nil.
func (m *Mesh) Model() *catalog.Model { return m.model.Load() }

// Config is the ConfigFunc: the proxy's generated resources with its secrets.
func (m *Mesh) Config(ctx context.Context, p ca.Proxy) (Resources, error) {
	model := m.model.Load()
	if model == nil {
		return nil, fmt.Errorf("no mesh model yet")
	}
	key := generationKey{p.Identity, p.Kind, model.MetricsEnabled(p.ID)}
	gen, g := m.generation(model, key)
	g.once.Do(func() { g.resources, g.secrets, g.err = generate(gen, p, key.metrics) })
	if g.err != nil {
		return nil, g.err
	}
	secrets, err := m.filledSecrets(ctx, p, g)
	if err != nil {
		return nil, err
	}
	out := make(Resources, len(g.resources)+1)
	for typ, items := range g.resources {
		out[typ] = items
	}
	// Clipped: secrets is shared between the identity's proxies.
	out[resource.SecretType] = append(slices.Clip(secrets), g.resources[resource.SecretType]...)
	return out, nil
}

func (m *Mesh) generation(model *catalog.Model, key generationKey) (*envoy.Generator, *generation) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.memoModel != model {
		m.memoModel, m.generator, m.generated = model, envoy.NewGenerator(model), map[generationKey]*generation{}
	}
	g, ok := m.generated[key]
	if !ok {
		g = &generation{}
		m.generated[key] = g
	}
	return m.generator, g
}

// generate runs the generator for one identity and kind of proxy: a
// proxyless gRPC workload gets the gRPC flavour, a gateway its Gateway's
// listeners and the listeners' certificates (secrets with content, which
// Config adds to those it fills from the CA).
func generate(generator *envoy.Generator, p ca.Proxy, metrics bool) (Resources, []string, error) {
	kind := envoy.ProxySidecar
	switch p.Kind {
	case ca.ProxySidecar:
	case ca.ProxyGRPC:
		kind = envoy.ProxyGRPC
	case ca.ProxyGateway:
		kind = envoy.ProxyGateway
	default:
		return nil, nil, fmt.Errorf("proxies of kind %q are not served", p.Kind)
	}
	gen, err := generator.Generate(envoy.Proxy{Identity: p.Identity, Kind: kind, Metrics: metrics})
	if err != nil {
		return nil, nil, err
	}
	out := Resources{
		resource.ListenerType: make([]types.Resource, 0, len(gen.Listeners)),
		resource.RouteType:    make([]types.Resource, 0, len(gen.Routes)),
		resource.ClusterType:  make([]types.Resource, 0, len(gen.Clusters)),
		resource.EndpointType: make([]types.Resource, 0, len(gen.Endpoints)),
	}
	for _, r := range gen.Listeners {
		out[resource.ListenerType] = append(out[resource.ListenerType], r)
	}
	for _, r := range gen.Routes {
		out[resource.RouteType] = append(out[resource.RouteType], r)
	}
	for _, r := range gen.Clusters {
		out[resource.ClusterType] = append(out[resource.ClusterType], r)
	}
	for _, r := range gen.Endpoints {
		out[resource.EndpointType] = append(out[resource.EndpointType], r)
	}
	for _, r := range gen.GatewaySecrets {
		out[resource.SecretType] = append(out[resource.SecretType], r)
	}
	return out, gen.Secrets, nil
}

// filledSecrets returns g's secrets filled for p, reusing the last ones while
// the service certificate and the bundle are unchanged, so the proxies of one
// identity share one slice.
func (m *Mesh) filledSecrets(ctx context.Context, p ca.Proxy, g *generation) ([]types.Resource, error) {
	cert, err := m.certs.ServiceCertificate(ctx, p.Identity)
	if err != nil {
		return nil, fmt.Errorf("service certificate of %s: %w", p.Identity, err)
	}
	bundle := m.certs.Bundle()
	g.filledMu.Lock()
	defer g.filledMu.Unlock()
	if g.filled != nil && g.filledCert == cert && bytes.Equal(g.filledRoot, bundle) {
		return g.filled, nil
	}
	filled, err := m.secrets(ctx, p, g.secrets, bundle)
	if err != nil {
		return nil, err
	}
	g.filled, g.filledCert, g.filledRoot = filled, cert, bundle
	return filled, nil
}

// secrets fills the named secrets. A service certificate is only ever the
// proxy's own identity's: a name for any other identity is an error, whatever
// the generator asked for.
func (m *Mesh) secrets(ctx context.Context, p ca.Proxy, names []string, bundle []byte) ([]types.Resource, error) {
	out := make([]types.Resource, 0, len(names))
	model := m.model.Load()
	for _, name := range names {
		ref, ok := envoy.ParseSecretName(name)
		if !ok {
			return nil, fmt.Errorf("secret %q has no known form", name)
		}
		switch ref.Kind {
		case envoy.SecretServiceCert:
			id := identity.Identity{Namespace: ref.Namespace, ServiceAccount: ref.Name}
			if id != p.Identity {
				return nil, fmt.Errorf("proxy %s may not hold the certificate of %s", p, id)
			}
			cert, err := m.certs.ServiceCertificate(ctx, id)
			if err != nil {
				return nil, fmt.Errorf("service certificate of %s: %w", id, err)
			}
			out = append(out, envoy.ServiceCertSecret(name, cert.CertChainPEM, cert.PrivateKeyPEM))
		default:
			out = append(out, m.rootSecret(name, bundle, model))
		}
	}
	return out, nil
}

// rootSecret returns the trust-bundle secret named name holding bundle,
// built once for every proxy that names it (see Mesh.roots).
func (m *Mesh) rootSecret(name string, bundle []byte, model *catalog.Model) types.Resource {
	m.rootsMu.Lock()
	defer m.rootsMu.Unlock()
	if !bytes.Equal(m.rootsBundle, bundle) {
		m.rootsBundle, m.rootsModel, m.roots, m.prevRoots = bundle, model, map[string]types.Resource{}, nil
	} else if m.rootsModel != model {
		m.rootsModel, m.roots, m.prevRoots = model, map[string]types.Resource{}, m.roots
	}
	root, ok := m.roots[name]
	if !ok {
		if root, ok = m.prevRoots[name]; !ok {
			root = envoy.RootCertSecret(name, bundle)
		}
		m.roots[name] = root
	}
	return root
}

// EnvoyResources is generate's inverse, for showing a proxy's configuration as
// Envoy's /config_dump does (envoy.ConfigDump): the listeners, routes,
// clusters and endpoints of r, and its secrets by name only, so no key leaves
// the server. Resources of other types are left out.
func EnvoyResources(r Resources) *envoy.Resources {
	out := &envoy.Resources{
		Listeners: ofType[*listenerv3.Listener](r[resource.ListenerType]),
		Routes:    ofType[*routev3.RouteConfiguration](r[resource.RouteType]),
		Clusters:  ofType[*clusterv3.Cluster](r[resource.ClusterType]),
		Endpoints: ofType[*endpointv3.ClusterLoadAssignment](r[resource.EndpointType]),
	}
	for _, item := range r[resource.SecretType] {
		out.Secrets = append(out.Secrets, cachev3.GetResourceName(item))
	}
	return out
}

// ofType returns the items that are a T.
func ofType[T any, I any](items []I) []T {
	var out []T
	for _, item := range items {
		if t, ok := any(item).(T); ok {
			out = append(out, t)
		}
	}
	return out
}
