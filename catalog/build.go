package catalog

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s/state"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// Build turns one State into the Model. It is a pure function: it reads the
// State (never modifying it), holds nothing afterwards, and records every piece
// of input it skips as a Problem instead of failing. A nil State gives an empty
// model. cfg is the mesh configuration (mesh.Config, defaults applied by the
// caller): its trust domain and cluster domain name the model's identities and
// services.
func Build(s *state.State, cfg mesh.Config) *Model {
	if s == nil {
		s = &state.State{}
	}
	b := &builder{
		state:         s,
		monitored:     map[string]bool{},
		identities:    map[identity.Identity]bool{},
		pods:          map[podKey]*corev1.Pod{},
		services:      map[ServiceRef]*Service{},
		outside:       map[ServiceRef]*Service{},
		externalNames: map[ServiceRef]bool{},
	}
	for _, r := range s.Rejected {
		b.problems.add(ObjectRef{Kind: r.Kind, Namespace: r.Namespace, Name: r.Name}, "",
			"not read%s: %s", fromFile(r.Source), r.Reason)
	}
	b.settings, b.features = b.settingsFrom(cfg, s.MeshConfig)
	b.indexNamespaces()
	b.indexIdentities()
	b.buildServices()
	b.attachUpstreamTrafficSettings()
	b.attachRoutes()
	b.attachSplits()
	b.groups = b.compileRouteGroups()
	b.buildGrants()
	b.buildRetries()
	b.buildIngress()
	b.buildGateways()
	b.buildEgress()
	return b.model()
}

func fromFile(source string) string {
	if source == "" {
		return ""
	}
	return " from " + source
}

// builder holds Build's working indexes.
type builder struct {
	state    *state.State
	settings Settings
	// features are the MeshConfig's feature flags, which decide what the
	// catalog resolves; the generator never reads them.
	features configv1alpha2.FeatureFlags
	problems problems

	monitored  map[string]bool
	identities map[identity.Identity]bool
	pods       map[podKey]*corev1.Pod
	// services are the mesh's; outside are Services of other namespaces kept to
	// resolve IngressBackend sources.
	services map[ServiceRef]*Service
	outside  map[ServiceRef]*Service
	// externalNames are the ExternalName Services, which are skipped.
	externalNames map[ServiceRef]bool
	// serves maps an identity to the mesh Services it serves.
	serves map[identity.Identity][]*Service

	grants  map[identity.Identity][]grant                    // by destination
	reaches map[identity.Identity]map[identity.Identity]bool // source -> destinations it may reach
	retries map[identity.Identity]map[ServiceRef]*RetryPolicy
	ingress []*IngressRule
	egress  []*EgressRule
	uts     map[ObjectRef]*UpstreamTrafficSetting
	// routeOwners are the GAMMA routes attached to each Service.
	routeOwners map[ServiceRef][]ObjectRef
	groups      *routeGroups
	// gateways are the Gateways of Weft's classes; gatewayAdmits the
	// gateways each backend Service admits.
	gateways      []*Gateway
	gatewayAdmits map[ServiceRef][]gatewayAdmit
}

type podKey struct{ namespace, name string }

func (b *builder) indexNamespaces() {
	for _, ns := range b.state.Namespaces {
		if ns != nil && ns.Name != "" {
			b.monitored[ns.Name] = true
		}
	}
}

// indexIdentities collects the mesh's identities: its service accounts, and the
// service account of every pod (a pod's default one may not exist as an object).
func (b *builder) indexIdentities() {
	for _, sa := range b.state.ServiceAccounts {
		if sa != nil && b.monitored[sa.Namespace] && sa.Name != "" {
			b.identities[identity.Identity{Namespace: sa.Namespace, ServiceAccount: sa.Name}] = true
		}
	}
	for _, p := range b.state.Pods {
		if p == nil || !b.monitored[p.Namespace] || p.Name == "" {
			continue
		}
		b.pods[podKey{p.Namespace, p.Name}] = p
		b.identities[identity.FromPod(p)] = true
	}
}

func (b *builder) sortedIdentities() []identity.Identity {
	ids := make([]identity.Identity, 0, len(b.identities))
	for id := range b.identities {
		ids = append(ids, id)
	}
	slices.SortFunc(ids, identity.Compare)
	return ids
}
