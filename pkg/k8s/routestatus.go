package k8s

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weft-mesh/weft/pkg/k8s/state"
)

// GatewayControllerName is the controllerName of the status.parents entries
// Weft writes on GAMMA routes; entries of other controllers are kept as they
// are.
const GatewayControllerName gatewayv1.GatewayController = "weft.io/mesh-controller"

// Which condition a reason leading a route's problem sets to False (the
// catalog leads each problem on a route with its Gateway API reason).
var (
	acceptedReasons = []gatewayv1.RouteConditionReason{gatewayv1.RouteReasonNoMatchingParent,
		gatewayv1.RouteReasonNotAllowedByListeners, gatewayv1.RouteReasonUnsupportedValue, gatewayv1.RouteReasonNoMatchingListenerHostname}
	resolvedRefsReasons = []gatewayv1.RouteConditionReason{gatewayv1.RouteReasonBackendNotFound,
		gatewayv1.RouteReasonRefNotPermitted, gatewayv1.RouteReasonInvalidKind}
)

// routeProblem is a problem of the catalog on a route, read back: its field,
// its Gateway API reason (empty for a note, such as a TrafficSplit the route
// wins over) and its message.
type routeProblem struct {
	field   string
	reason  gatewayv1.RouteConditionReason
	message string
}

func parseRouteProblem(p string) routeProblem {
	field, rest, ok := strings.Cut(p, ": ")
	if !ok {
		return routeProblem{message: p}
	}
	reason, msg, ok := strings.Cut(rest, ": ")
	r := gatewayv1.RouteConditionReason(reason)
	if !ok || !slices.Contains(acceptedReasons, r) && !slices.Contains(resolvedRefsReasons, r) {
		return routeProblem{field: field, message: rest}
	}
	return routeProblem{field: field, reason: r, message: msg}
}

// RouteParentStatuses computes a GAMMA route's status.parents: the entries of
// other controllers as they are, then one of Weft's per parentRef naming a
// Service, with the conditions Gateway API defines for a route's parent:
//
//   - Accepted: False with NoMatchingParent (no such Service or port),
//     NotAllowedByListeners (the port does not speak HTTP) or
//     UnsupportedValue (a consumer route, in another namespace than its
//     parent), else True with Accepted, the message adding the catalog's
//     notes on the parent (a TrafficSplit of the Service the route wins over);
//   - ResolvedRefs: False with BackendNotFound, RefNotPermitted (no
//     ReferenceGrant) or InvalidKind for the first backendRef at fault (the
//     message lists them all), else True with ResolvedRefs;
//   - PartiallyInvalid: True with UnsupportedValue when rules were skipped
//     for what Weft does not carry out; absent otherwise.
//
// problems are the catalog's on the route (field first, as Problem.Detail).
// Conditions whose status is unchanged keep their lastTransitionTime (as
// meta.SetStatusCondition does); the others take now. It is a pure function.
func RouteParentStatuses(generation int64, namespace string, parents []gatewayv1.ParentReference,
	current []gatewayv1.RouteParentStatus, problems []string, now metav1.Time) []gatewayv1.RouteParentStatus {
	return routeParentStatuses(GatewayControllerName, state.IsServiceParent, "programmed on the Service's clients",
		generation, namespace, parents, current, problems, now)
}

// GatewayRouteParentStatuses is RouteParentStatuses for an HTTPRoute's
// parents that are Gateways of Weft's class (weft tells them by parentRef),
// as controller weft.io/gateway-controller: Accepted False with
// NoMatchingParent (no listener matches sectionName and port) or
// NotAllowedByListeners (allowedRoutes), and ResolvedRefs as for GAMMA.
// Entries of other controllers, GAMMA's among them, are kept.
func GatewayRouteParentStatuses(generation int64, namespace string, parents []gatewayv1.ParentReference,
	weft func(gatewayv1.ParentReference) bool, current []gatewayv1.RouteParentStatus, problems []string, now metav1.Time) []gatewayv1.RouteParentStatus {
	return routeParentStatuses(GatewayIngressController, weft, "attached to the Gateway's listeners",
		generation, namespace, parents, current, problems, now)
}

func routeParentStatuses(controller gatewayv1.GatewayController, ours func(gatewayv1.ParentReference) bool, acceptedMessage string,
	generation int64, namespace string, parents []gatewayv1.ParentReference,
	current []gatewayv1.RouteParentStatus, problems []string, now metav1.Time) []gatewayv1.RouteParentStatus {
	var parsed []routeProblem
	for _, p := range problems {
		parsed = append(parsed, parseRouteProblem(p))
	}
	var out []gatewayv1.RouteParentStatus
	for _, c := range current {
		if c.ControllerName != controller {
			out = append(out, c)
		}
	}
	resolved := metav1.Condition{Type: string(gatewayv1.RouteConditionResolvedRefs), Status: metav1.ConditionTrue,
		Reason: string(gatewayv1.RouteReasonResolvedRefs), Message: "every backendRef resolved"}
	var unresolved, partial []string
	for _, p := range parsed {
		switch {
		case strings.Contains(p.field, ".backendRefs[") && slices.Contains(resolvedRefsReasons, p.reason):
			if len(unresolved) == 0 {
				resolved.Status, resolved.Reason = metav1.ConditionFalse, string(p.reason)
			}
			unresolved = append(unresolved, p.field+": "+p.message)
		case strings.HasPrefix(p.field, "spec.rules[") && p.reason == gatewayv1.RouteReasonUnsupportedValue:
			partial = append(partial, p.field+": "+p.message)
		}
	}
	if len(unresolved) > 0 {
		resolved.Message = strings.Join(unresolved, "; ")
	}
	for i, ref := range parents {
		if !ours(ref) {
			continue
		}
		field := fmt.Sprintf("spec.parentRefs[%d]", i)
		accepted := metav1.Condition{Type: string(gatewayv1.RouteConditionAccepted), Status: metav1.ConditionTrue,
			Reason: string(gatewayv1.RouteReasonAccepted), Message: acceptedMessage}
		var notes []string
		for _, p := range parsed {
			if p.field == field && slices.Contains(acceptedReasons, p.reason) {
				accepted.Status, accepted.Reason, accepted.Message = metav1.ConditionFalse, string(p.reason), p.message
				break
			}
			if p.reason == "" && (p.field == field || p.field == "spec.parentRefs") {
				notes = append(notes, p.message) // such as a TrafficSplit the route wins over
			}
		}
		if accepted.Status == metav1.ConditionTrue && len(notes) > 0 {
			accepted.Message += "; " + strings.Join(notes, "; ")
		}
		conds := []metav1.Condition{accepted, resolved}
		if len(partial) > 0 && accepted.Status == metav1.ConditionTrue {
			conds = append(conds, metav1.Condition{Type: string(gatewayv1.RouteConditionPartiallyInvalid), Status: metav1.ConditionTrue,
				Reason: string(gatewayv1.RouteReasonUnsupportedValue), Message: strings.Join(partial, "; ")})
		}
		ref := *ref.DeepCopy()
		if ref.Namespace == nil {
			ns := gatewayv1.Namespace(namespace)
			ref.Namespace = &ns
		}
		entry := gatewayv1.RouteParentStatus{ParentRef: ref, ControllerName: controller}
		for _, c := range current {
			if c.ControllerName == controller && equality.Semantic.DeepEqual(c.ParentRef, ref) {
				entry.Conditions = slices.Clone(c.Conditions)
			}
		}
		entry.Conditions = slices.DeleteFunc(entry.Conditions, func(c metav1.Condition) bool {
			return !slices.ContainsFunc(conds, func(w metav1.Condition) bool { return w.Type == c.Type })
		})
		for _, c := range conds {
			c.ObservedGeneration = generation
			c.LastTransitionTime = now
			if old := meta.FindStatusCondition(entry.Conditions, c.Type); old != nil && old.Status == c.Status {
				c.LastTransitionTime = old.LastTransitionTime
			}
			meta.RemoveStatusCondition(&entry.Conditions, c.Type)
			entry.Conditions = append(entry.Conditions, c)
		}
		// The conditions in a fixed order, so that an unchanged status
		// compares equal.
		slices.SortStableFunc(entry.Conditions, func(a, b metav1.Condition) int {
			return slices.Index(conditionOrder, a.Type) - slices.Index(conditionOrder, b.Type)
		})
		out = append(out, entry)
	}
	return out
}

var conditionOrder = []string{string(gatewayv1.RouteConditionAccepted), string(gatewayv1.RouteConditionResolvedRefs),
	string(gatewayv1.RouteConditionPartiallyInvalid)}

// writeRoutes writes the status.parents of each GAMMA route in s whose
// entries changed.
func (w *PolicyStatusWriter) writeRoutes(ctx context.Context, s *State, problems func(kind, namespace, name string) []string) error {
	now := metav1.Now()
	if w.Now != nil {
		now = metav1.NewTime(w.Now())
	}
	var errs []error
	gateways := weftGateways(s)
	update := func(obj client.Object, kind string, parents []gatewayv1.ParentReference, status *gatewayv1.RouteStatus) {
		weft := func(p gatewayv1.ParentReference) bool {
			return kind == "HTTPRoute" && state.IsGatewayParent(p) && gateways[state.ParentNamespace(p, obj.GetNamespace())+"/"+string(p.Name)]
		}
		if !slices.ContainsFunc(parents, state.IsServiceParent) && !slices.ContainsFunc(parents, weft) {
			return // another controller's route
		}
		// GAMMA's entries and the Gateways', in one patch: a merge patch
		// replaces the whole list.
		found := problems(kind, obj.GetNamespace(), obj.GetName())
		want := status.Parents
		if slices.ContainsFunc(parents, state.IsServiceParent) || slices.ContainsFunc(status.Parents, func(p gatewayv1.RouteParentStatus) bool { return p.ControllerName == GatewayControllerName }) {
			want = RouteParentStatuses(obj.GetGeneration(), obj.GetNamespace(), parents, want, found, now)
		}
		want = GatewayRouteParentStatuses(obj.GetGeneration(), obj.GetNamespace(), parents, weft, want, found, now)
		if equality.Semantic.DeepEqual(want, status.Parents) {
			return
		}
		patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
		status.Parents = want
		if err := w.Client.Status().Patch(ctx, obj, patch); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("status of %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err))
		}
	}
	// The objects in a State are shared and never modified: patch copies.
	for _, o := range s.HTTPRoutes {
		c := o.DeepCopy()
		update(c, "HTTPRoute", c.Spec.ParentRefs, &c.Status.RouteStatus)
	}
	for _, o := range s.GRPCRoutes {
		c := o.DeepCopy()
		update(c, "GRPCRoute", c.Spec.ParentRefs, &c.Status.RouteStatus)
	}
	return errors.Join(errs...)
}
