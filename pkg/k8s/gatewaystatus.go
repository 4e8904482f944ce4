package k8s

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weft-mesh/weft/pkg/k8s/state"
)

// Statuses of ingress through Gateways of Weft's GatewayClass: the class
// Accepted, each Gateway Accepted and Programmed with its addresses and its
// listeners' conditions, and each HTTPRoute's entry for such a Gateway
// parent (written with its GAMMA entries, in one patch: see writeRoutes).
// The catalog leads a Gateway listener's problem with its reason
// (spec.listeners[1].tls.certificateRefs[0]: InvalidCertificateRef: ...).

// GatewayIngressController is the controllerName of the route entries Weft
// writes for its Gateways' routes (the GatewayClass's controllerName).
const GatewayIngressController gatewayv1.GatewayController = state.GatewayClassController

var (
	listenerAcceptedReasons = []gatewayv1.ListenerConditionReason{gatewayv1.ListenerReasonUnsupportedProtocol, gatewayv1.ListenerReasonPortUnavailable}
	listenerConflictReasons = []gatewayv1.ListenerConditionReason{gatewayv1.ListenerReasonProtocolConflict, gatewayv1.ListenerReasonHostnameConflict}
	listenerRefReasons      = []gatewayv1.ListenerConditionReason{gatewayv1.ListenerReasonInvalidCertificateRef, gatewayv1.ListenerReasonRefNotPermitted}
)

// GatewayAddresses are a provisioned Service's addresses, as a Gateway's
// status.addresses: its load balancer's IPs and hostnames, else its cluster
// IPs; none while it has neither (or when svc is nil).
func GatewayAddresses(svc *corev1.Service) []gatewayv1.GatewayStatusAddress {
	if svc == nil {
		return nil
	}
	var out []gatewayv1.GatewayStatusAddress
	ip, host := gatewayv1.IPAddressType, gatewayv1.HostnameAddressType
	for _, in := range svc.Status.LoadBalancer.Ingress {
		switch {
		case in.IP != "":
			out = append(out, gatewayv1.GatewayStatusAddress{Type: &ip, Value: in.IP})
		case in.Hostname != "":
			out = append(out, gatewayv1.GatewayStatusAddress{Type: &host, Value: in.Hostname})
		}
	}
	if len(out) > 0 {
		return out
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, a := range ips {
		if a != "" && a != corev1.ClusterIPNone {
			out = append(out, gatewayv1.GatewayStatusAddress{Type: &ip, Value: a})
		}
	}
	return out
}

// GatewayStatusFor computes a Gateway's status: Accepted (ListenersNotValid,
// True while one listener is valid), Programmed (True once the provisioned
// Service has an address: AddressNotAssigned before), the addresses, and per
// listener its supported kinds, attached routes (attached[i] for listener i)
// and conditions Accepted, ResolvedRefs, Programmed and Conflicted. problems
// are the catalog's on the Gateway (field first, as Problem.Detail).
// Conditions whose status is unchanged keep their lastTransitionTime. It is
// a pure function.
func GatewayStatusFor(gw *gatewayv1.Gateway, problems []string, svc *corev1.Service, attached []int32,
	current gatewayv1.GatewayStatus, now metav1.Time) gatewayv1.GatewayStatus {
	gen := gw.Generation
	type parsed struct{ field, reason, message string }
	var ps []parsed
	for _, p := range problems {
		field, rest, _ := strings.Cut(p, ": ")
		reason, msg, ok := strings.Cut(rest, ": ")
		if !ok {
			reason, msg = "", rest
		}
		ps = append(ps, parsed{field, reason, msg})
	}
	addresses := GatewayAddresses(svc)
	out := gatewayv1.GatewayStatus{Addresses: addresses}
	valid := 0
	for i, l := range gw.Spec.Listeners {
		prefix := fmt.Sprintf("spec.listeners[%d]", i)
		accepted := cond(gatewayv1.ListenerConditionAccepted, true, string(gatewayv1.ListenerReasonAccepted), "listener accepted")
		resolved := cond(gatewayv1.ListenerConditionResolvedRefs, true, string(gatewayv1.ListenerReasonResolvedRefs), "every reference resolved")
		conflicted := cond(gatewayv1.ListenerConditionConflicted, false, string(gatewayv1.ListenerReasonNoConflicts), "no conflict")
		skipped := false
		for _, p := range ps {
			if p.field != prefix && !strings.HasPrefix(p.field, prefix+".") {
				continue
			}
			skipped = skipped || strings.HasSuffix(p.message, "listener skipped")
			r := gatewayv1.ListenerConditionReason(p.reason)
			switch {
			case slices.Contains(listenerAcceptedReasons, r) && accepted.Status == metav1.ConditionTrue:
				accepted.Status, accepted.Reason, accepted.Message = metav1.ConditionFalse, p.reason, p.message
			case slices.Contains(listenerConflictReasons, r) && conflicted.Status == metav1.ConditionFalse:
				conflicted.Status, conflicted.Reason, conflicted.Message = metav1.ConditionTrue, p.reason, p.message
			case slices.Contains(listenerRefReasons, r):
				if resolved.Status == metav1.ConditionTrue {
					resolved.Status, resolved.Reason, resolved.Message = metav1.ConditionFalse, p.reason, p.field+": "+p.message
				} else {
					resolved.Message += "; " + p.field + ": " + p.message
				}
			}
		}
		programmed := cond(gatewayv1.ListenerConditionProgrammed, true, string(gatewayv1.ListenerReasonProgrammed), "programmed on the gateway's proxies")
		switch {
		case skipped:
			programmed.Status, programmed.Reason, programmed.Message = metav1.ConditionFalse, string(gatewayv1.ListenerReasonInvalid), "listener skipped: see its other conditions"
		case len(addresses) == 0:
			programmed.Status, programmed.Reason, programmed.Message = metav1.ConditionFalse, string(gatewayv1.ListenerReasonPending), "waiting for the gateway's Service to get an address"
		}
		if !skipped {
			valid++
		}
		var n int32
		if i < len(attached) {
			n = attached[i]
		}
		ls := gatewayv1.ListenerStatus{Name: l.Name, AttachedRoutes: n,
			SupportedKinds: []gatewayv1.RouteGroupKind{{Group: ptrTo(gatewayv1.Group(gatewayv1.GroupName)), Kind: "HTTPRoute"}}}
		var old []metav1.Condition
		if j := slices.IndexFunc(current.Listeners, func(c gatewayv1.ListenerStatus) bool { return c.Name == l.Name }); j >= 0 {
			old = current.Listeners[j].Conditions
		}
		ls.Conditions = stamp(old, gen, now, accepted, resolved, programmed, conflicted)
		out.Listeners = append(out.Listeners, ls)
	}
	accepted := cond(gatewayv1.GatewayConditionAccepted, true, string(gatewayv1.GatewayReasonAccepted), "provisioned and programmed by weftd")
	switch {
	case valid == 0:
		accepted.Status, accepted.Reason, accepted.Message = metav1.ConditionFalse, string(gatewayv1.GatewayReasonListenersNotValid), "no listener is valid"
	case valid < len(gw.Spec.Listeners):
		accepted.Reason, accepted.Message = string(gatewayv1.GatewayReasonListenersNotValid), "some listeners are not valid: see their conditions"
	}
	programmed := cond(gatewayv1.GatewayConditionProgrammed, true, string(gatewayv1.GatewayReasonProgrammed), "the gateway's Service has an address")
	if len(addresses) == 0 {
		programmed.Status, programmed.Reason, programmed.Message = metav1.ConditionFalse, string(gatewayv1.GatewayReasonAddressNotAssigned),
			"waiting for Service "+gw.Namespace+"/"+state.GatewayProvisionedName(gw.Name)+" to get an address"
	}
	out.Conditions = stamp(current.Conditions, gen, now, accepted, programmed)
	return out
}

func ptrTo[T any](v T) *T { return &v }

func cond[T ~string](typ T, ok bool, reason, msg string) metav1.Condition {
	s := metav1.ConditionFalse
	if ok {
		s = metav1.ConditionTrue
	}
	return metav1.Condition{Type: string(typ), Status: s, Reason: reason, Message: msg}
}

// stamp gives conditions the generation, and now as their transition time
// unless old has them with the same status; in the order given.
func stamp(old []metav1.Condition, gen int64, now metav1.Time, conds ...metav1.Condition) []metav1.Condition {
	out := make([]metav1.Condition, 0, len(conds))
	for _, c := range conds {
		c.ObservedGeneration = gen
		c.LastTransitionTime = now
		if o := meta.FindStatusCondition(old, c.Type); o != nil && o.Status == c.Status {
			c.LastTransitionTime = o.LastTransitionTime
		}
		out = append(out, c)
	}
	return out
}

// AttachedRoutes counts, per listener of gw, the HTTPRoutes of s attached to
// it, as Gateway API defines attachment: a parentRef that selects the
// listener and that the listener's allowedRoutes admit (whatever becomes of
// the routes' rules).
func AttachedRoutes(s *State, gw *gatewayv1.Gateway) []int32 {
	out := make([]int32, len(gw.Spec.Listeners))
	for _, r := range s.HTTPRoutes {
		if r == nil {
			continue
		}
		for i, l := range gw.Spec.Listeners {
			if slices.ContainsFunc(r.Spec.ParentRefs, func(p gatewayv1.ParentReference) bool {
				return state.IsGatewayParent(p) && string(p.Name) == gw.Name && state.ParentNamespace(p, r.Namespace) == gw.Namespace &&
					state.SelectsListener(p, l)
			}) && state.ListenerAllows(gw, l, r.Namespace, s.Namespaces) {
				out[i]++
			}
		}
	}
	return out
}

// writeGateways writes the status of Weft's GatewayClasses and of their
// Gateways in s whose status changed.
func (w *PolicyStatusWriter) writeGateways(ctx context.Context, s *State, problems func(kind, namespace, name string) []string) error {
	now := metav1.Now()
	if w.Now != nil {
		now = metav1.NewTime(w.Now())
	}
	var errs []error
	patch := func(obj client.Object, before client.Object, kind string) {
		if err := w.Client.Status().Patch(ctx, obj, client.MergeFrom(before)); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("status of %s %s: %w", kind, client.ObjectKeyFromObject(obj), err))
		}
	}
	classes := s.WeftGatewayClasses()
	for _, o := range s.GatewayClasses {
		if o == nil || !classes[o.Name] {
			continue
		}
		want := stamp(o.Status.Conditions, o.Generation, now,
			cond(gatewayv1.GatewayClassConditionStatusAccepted, true, string(gatewayv1.GatewayClassReasonAccepted), "weftd provisions and programs this class's Gateways"))
		if equality.Semantic.DeepEqual(want, o.Status.Conditions) {
			continue
		}
		c := o.DeepCopy()
		c.Status.Conditions = want
		patch(c, o, "GatewayClass")
	}
	for _, o := range s.Gateways {
		if o == nil || !classes[string(o.Spec.GatewayClassName)] {
			continue
		}
		var svc *corev1.Service
		name := state.GatewayProvisionedName(o.Name)
		if i := slices.IndexFunc(s.Services, func(x *corev1.Service) bool { return x.Namespace == o.Namespace && x.Name == name }); i >= 0 {
			svc = s.Services[i]
		}
		want := GatewayStatusFor(o, problems("Gateway", o.Namespace, o.Name), svc, AttachedRoutes(s, o), o.Status, now)
		if equality.Semantic.DeepEqual(want, o.Status) {
			continue
		}
		c := o.DeepCopy()
		c.Status = want
		patch(c, o, "Gateway")
	}
	return errors.Join(errs...)
}

// weftGateways are the Gateways of Weft's classes in s, by namespace/name.
func weftGateways(s *State) map[string]bool {
	classes := s.WeftGatewayClasses()
	out := map[string]bool{}
	for _, g := range s.Gateways {
		if g != nil && classes[string(g.Spec.GatewayClassName)] {
			out[g.Namespace+"/"+g.Name] = true
		}
	}
	return out
}
