package state

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Gateway API's rules for which Gateways are Weft's and which routes a
// listener takes, shared by the catalog (which programs them) and the
// status writer (which counts them), so that both read them alike.

// GatewayClassController is the spec.controllerName of the GatewayClasses
// whose Gateways weftd provisions and programs.
const GatewayClassController = "weft.io/gateway-controller"

// GatewayProvisionedName names what weftd provisions for a Gateway, in its
// namespace: the service account (the gateway's identity), the Deployment,
// the Service and the bootstrap's owner, <gateway>-weft-gateway.
func GatewayProvisionedName(gateway string) string { return gateway + "-weft-gateway" }

// WeftGatewayClasses are the names of the GatewayClasses Weft controls.
func (s *State) WeftGatewayClasses() map[string]bool {
	out := map[string]bool{}
	for _, c := range s.GatewayClasses {
		if c != nil && c.Spec.ControllerName == GatewayClassController {
			out[c.Name] = true
		}
	}
	return out
}

// IsGatewayParent reports whether a parentRef names a Gateway (Gateway API's
// defaults: group gateway.networking.k8s.io, kind Gateway).
func IsGatewayParent(p gatewayv1.ParentReference) bool {
	return (p.Group == nil || *p.Group == gatewayv1.GroupName) && (p.Kind == nil || *p.Kind == "Gateway")
}

// ParentNamespace is the namespace a route's parentRef names (the route's
// own by default).
func ParentNamespace(p gatewayv1.ParentReference, routeNamespace string) string {
	if p.Namespace != nil && *p.Namespace != "" {
		return string(*p.Namespace)
	}
	return routeNamespace
}

// SelectsListener reports whether a parentRef's sectionName and port (when
// set) select the listener.
func SelectsListener(p gatewayv1.ParentReference, l gatewayv1.Listener) bool {
	return (p.SectionName == nil || *p.SectionName == l.Name) && (p.Port == nil || *p.Port == l.Port)
}

// ListenerAllows applies a listener's allowedRoutes to an HTTPRoute of
// namespace ns (namespaces are the State's, with their labels): its kinds,
// and its namespaces (Same by default, All, or a Selector).
func ListenerAllows(gw *gatewayv1.Gateway, l gatewayv1.Listener, ns string, namespaces []*corev1.Namespace) bool {
	ar := l.AllowedRoutes
	if ar != nil && len(ar.Kinds) > 0 && !slices.ContainsFunc(ar.Kinds, func(k gatewayv1.RouteGroupKind) bool {
		return (k.Group == nil || *k.Group == gatewayv1.GroupName) && k.Kind == "HTTPRoute"
	}) {
		return false
	}
	from := gatewayv1.NamespacesFromSame
	if ar != nil && ar.Namespaces != nil && ar.Namespaces.From != nil {
		from = *ar.Namespaces.From
	}
	switch from {
	case gatewayv1.NamespacesFromAll:
		return true
	case gatewayv1.NamespacesFromSelector:
		if ar.Namespaces.Selector == nil {
			return false
		}
		sel, err := metav1.LabelSelectorAsSelector(ar.Namespaces.Selector)
		if err != nil {
			return false
		}
		i := slices.IndexFunc(namespaces, func(n *corev1.Namespace) bool { return n != nil && n.Name == ns })
		return i >= 0 && sel.Matches(labels.Set(namespaces[i].Labels))
	}
	return ns == gw.Namespace
}
