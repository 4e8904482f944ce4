// Package state holds the State type: one immutable snapshot of the objects the
// catalog reads. It is apart from pkg/k8s so that the catalog can read a State
// without importing client-go's clients and informers; it imports only API types.
package state

import (
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// MonitoredByLabel joins a namespace to a mesh: its value is the mesh's name.
const MonitoredByLabel = "openservicemesh.io/monitored-by"

// State is one consistent snapshot of everything the catalog reads. Both sources
// (cluster and files) produce it through k8s.NewState, so they agree on what is in it:
//
//   - Namespaces holds only the namespaces labelled MonitoredByLabel=<mesh>.
//   - Pods, ServiceAccounts and every policy kind come from those namespaces only.
//   - Services and EndpointSlices come from those namespaces, plus the Services
//     (and their EndpointSlices) that an IngressBackend names as a source, which
//     usually live outside the mesh (ingress-nginx). The catalog tells the two
//     apart by namespace.
//   - MeshConfig is the one named the source's Options.MeshConfigName in Options.MeshNamespace,
//     or nil; the mesh namespace itself need not be monitored.
//   - Rejected lists the objects that could not be read (a document that is not
//     valid for its kind), so that the catalog can report them.
//
// A State is immutable once announced: its slices and the objects they point to
// (which may be shared with informer caches) must never be modified. Every slice
// is sorted by namespace and name.
type State struct {
	Namespaces      []*corev1.Namespace
	Pods            []*corev1.Pod
	Services        []*corev1.Service
	EndpointSlices  []*discoveryv1.EndpointSlice
	ServiceAccounts []*corev1.ServiceAccount

	TrafficTargets  []*smiaccess.TrafficTarget
	HTTPRouteGroups []*smispecs.HTTPRouteGroup
	TCPRoutes       []*smispecs.TCPRoute
	TrafficSplits   []*splitv1alpha2.TrafficSplit

	// HTTPRoutes and GRPCRoutes are Gateway API routes (GAMMA when their parent
	// is a Service); ReferenceGrants (v1beta1 ones converted to v1), in the
	// backend's namespace, let them reach backends of other namespaces.
	HTTPRoutes      []*gatewayv1.HTTPRoute
	GRPCRoutes      []*gatewayv1.GRPCRoute
	ReferenceGrants []*gatewayv1.ReferenceGrant
	// GatewayClasses (cluster-scoped, all of them) and Gateways are Gateway
	// API's ingress; Secrets are only the TLS Secrets that Gateways' HTTPS
	// listeners name in certificateRefs, of any namespace.
	GatewayClasses []*gatewayv1.GatewayClass
	Gateways       []*gatewayv1.Gateway
	Secrets        []*corev1.Secret

	IngressBackends         []*policyv1alpha1.IngressBackend
	Egresses                []*policyv1alpha1.Egress
	UpstreamTrafficSettings []*policyv1alpha1.UpstreamTrafficSetting
	Retries                 []*policyv1alpha1.Retry

	MeshConfig *configv1alpha2.MeshConfig

	Rejected []Rejected
}

// Rejected is an object a source could not turn into its typed form.
type Rejected struct {
	// Kind, Namespace and Name identify the object as far as they could be read;
	// Source is the file it came from, if any.
	Kind, Namespace, Name, Source string
	// Reason says what was wrong.
	Reason string
}

// IsServiceParent reports whether a route's parentRef names a Service (group
// "" and kind Service; Gateway API's defaults name a Gateway): a GAMMA route's
// parent, which Weft programs and reports on.
func IsServiceParent(p gatewayv1.ParentReference) bool {
	return p.Group != nil && *p.Group == "" && p.Kind != nil && *p.Kind == "Service"
}
