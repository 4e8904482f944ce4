package k8s

import (
	"cmp"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// NewState keeps, from typed objects of any namespace, those that belong in a
// State for the mesh opts names (see State for the rules) and sorts them. Objects
// of kinds the catalog does not read are ignored. It does not copy the objects.
func NewState(objs []runtime.Object, opts Options, rejected []Rejected) *State {
	monitored := map[string]bool{}
	s := &State{Rejected: slices.Clone(rejected)}
	for _, o := range objs {
		if ns, ok := o.(*corev1.Namespace); ok && ns.Labels[MonitoredByLabel] == opts.MeshName && opts.MeshName != "" {
			monitored[ns.Name] = true
			s.Namespaces = append(s.Namespaces, ns)
		}
	}
	// Services outside the mesh that IngressBackends name as sources.
	ingressSources := map[nsName]bool{}
	for _, o := range objs {
		if ib, ok := o.(*policyv1alpha1.IngressBackend); ok && monitored[ib.Namespace] {
			for _, src := range ib.Spec.Sources {
				if src.Kind == policyv1alpha1.KindService {
					ns := src.Namespace
					if ns == "" {
						ns = ib.Namespace
					}
					ingressSources[nsName{ns, src.Name}] = true
				}
			}
		}
	}
	// TLS Secrets that Gateways of monitored namespaces name.
	certRefs := map[nsName]bool{}
	for _, o := range objs {
		if gw, ok := o.(*gatewayv1.Gateway); ok && monitored[gw.Namespace] {
			for _, l := range gw.Spec.Listeners {
				if l.TLS == nil {
					continue
				}
				for _, r := range l.TLS.CertificateRefs {
					ns := gw.Namespace
					if r.Namespace != nil && *r.Namespace != "" {
						ns = string(*r.Namespace)
					}
					certRefs[nsName{ns, string(r.Name)}] = true
				}
			}
		}
	}
	for _, o := range objs {
		meta, ok := o.(metav1.Object)
		if !ok {
			continue
		}
		in := monitored[meta.GetNamespace()]
		switch o := o.(type) {
		case *corev1.Service:
			if in || ingressSources[nsName{o.Namespace, o.Name}] {
				s.Services = append(s.Services, o)
			}
		case *discoveryv1.EndpointSlice:
			if in || ingressSources[nsName{o.Namespace, o.Labels[discoveryv1.LabelServiceName]}] {
				s.EndpointSlices = append(s.EndpointSlices, o)
			}
		case *gatewayv1.GatewayClass:
			s.GatewayClasses = append(s.GatewayClasses, o)
		case *corev1.Secret:
			if certRefs[nsName{o.Namespace, o.Name}] {
				s.Secrets = append(s.Secrets, o)
			}
		case *configv1alpha2.MeshConfig:
			if o.Namespace == opts.MeshNamespace && o.Name == opts.meshConfigName() {
				s.MeshConfig = o
			}
		}
		if !in {
			continue
		}
		switch o := o.(type) {
		case *corev1.Pod:
			s.Pods = append(s.Pods, o)
		case *corev1.ServiceAccount:
			s.ServiceAccounts = append(s.ServiceAccounts, o)
		case *smiaccess.TrafficTarget:
			s.TrafficTargets = append(s.TrafficTargets, o)
		case *smispecs.HTTPRouteGroup:
			s.HTTPRouteGroups = append(s.HTTPRouteGroups, o)
		case *smispecs.TCPRoute:
			s.TCPRoutes = append(s.TCPRoutes, o)
		case *splitv1alpha2.TrafficSplit:
			s.TrafficSplits = append(s.TrafficSplits, o)
		case *gatewayv1.HTTPRoute:
			s.HTTPRoutes = append(s.HTTPRoutes, o)
		case *gatewayv1.GRPCRoute:
			s.GRPCRoutes = append(s.GRPCRoutes, o)
		case *gatewayv1.Gateway:
			s.Gateways = append(s.Gateways, o)
		case *gatewayv1.ReferenceGrant:
			s.ReferenceGrants = append(s.ReferenceGrants, o)
		case *gatewayv1beta1.ReferenceGrant:
			s.ReferenceGrants = append(s.ReferenceGrants, (*gatewayv1.ReferenceGrant)(o))
		case *policyv1alpha1.IngressBackend:
			s.IngressBackends = append(s.IngressBackends, o)
		case *policyv1alpha1.Egress:
			s.Egresses = append(s.Egresses, o)
		case *policyv1alpha1.UpstreamTrafficSetting:
			s.UpstreamTrafficSettings = append(s.UpstreamTrafficSettings, o)
		case *policyv1alpha1.Retry:
			s.Retries = append(s.Retries, o)
		}
	}
	sortByName(s.Namespaces)
	sortByName(s.Pods)
	sortByName(s.Services)
	sortByName(s.EndpointSlices)
	sortByName(s.ServiceAccounts)
	sortByName(s.TrafficTargets)
	sortByName(s.HTTPRouteGroups)
	sortByName(s.TCPRoutes)
	sortByName(s.TrafficSplits)
	sortByName(s.HTTPRoutes)
	sortByName(s.GRPCRoutes)
	sortByName(s.ReferenceGrants)
	// A grant read as v1 and as v1beta1 (files holding both) counts once.
	s.ReferenceGrants = slices.CompactFunc(s.ReferenceGrants, func(a, b *gatewayv1.ReferenceGrant) bool {
		return a.Namespace == b.Namespace && a.Name == b.Name
	})
	sortByName(s.GatewayClasses)
	sortByName(s.Gateways)
	sortByName(s.Secrets)
	sortByName(s.IngressBackends)
	sortByName(s.Egresses)
	sortByName(s.UpstreamTrafficSettings)
	sortByName(s.Retries)
	slices.SortStableFunc(s.Rejected, func(a, b Rejected) int {
		return cmp.Or(cmp.Compare(a.Source, b.Source), cmp.Compare(a.Kind, b.Kind),
			cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	return s
}

type nsName struct{ namespace, name string }

func sortByName[T metav1.Object](objs []T) {
	slices.SortStableFunc(objs, func(a, b T) int {
		return cmp.Or(cmp.Compare(a.GetNamespace(), b.GetNamespace()), cmp.Compare(a.GetName(), b.GetName()))
	})
}
