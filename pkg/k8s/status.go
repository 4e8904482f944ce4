package k8s

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
)

// PolicyStatusWriter writes the mesh's verdict on each OSM policy to its status,
// as OSM did: currentStatus "committed", or "rejected" with the reasons the
// policy (or a part of it) was skipped. Users see it with
// `kubectl get ingressbackends`. Writes happen only when the status changes,
// and each change is also recorded as an event on the policy (Warning
// PolicyRejected, Normal PolicyCommitted), as `kubectl describe` shows.
//
// SMI policies (TrafficTarget, HTTPRouteGroup, TCPRoute, TrafficSplit) have no
// status subresource, so for them events are the only report: a Warning
// PolicySkipped with the problems, once per distinct set of problems, and a
// Normal PolicyAccepted when a policy this writer saw skipped is in force
// again. A warning's name is derived from the object's UID and the problems,
// so a restarted writer (or a second replica) finds it recorded rather than
// repeating it.
//
// GAMMA routes (HTTPRoutes and GRPCRoutes whose parent is a Service) get
// their status.parents entries, as Gateway API defines them
// (RouteParentStatuses), and Gateways of Weft's GatewayClass theirs, with
// their class's and their routes' (GatewayStatusFor).
type PolicyStatusWriter struct {
	Client client.Client
	// Now stamps events; default time.Now.
	Now func() time.Time

	mu sync.Mutex
	// smi holds what was last reported of each SMI policy seen.
	smi map[smiKey]smiReport
}

type smiKey struct{ kind, namespace, name string }

// smiReport is an SMI policy's last reported problems ("" when in force).
type smiReport struct {
	uid      types.UID
	problems string
}

// Write updates the status of every policy in s. problems returns the reasons
// the catalog skipped an object (by kind, namespace and name), empty when it is
// in force.
func (w *PolicyStatusWriter) Write(ctx context.Context, s *State, problems func(kind, namespace, name string) []string) error {
	var errs []error
	update := func(obj client.Object, kind string, status *policyv1alpha1.PolicyStatus) {
		want := policyv1alpha1.PolicyStatus{CurrentStatus: policyv1alpha1.StatusCommitted}
		if reasons := problems(kind, obj.GetNamespace(), obj.GetName()); len(reasons) > 0 {
			want = policyv1alpha1.PolicyStatus{CurrentStatus: policyv1alpha1.StatusRejected, Reason: strings.Join(reasons, "; ")}
		}
		if *status == want {
			return
		}
		patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
		*status = want
		if err := w.Client.Status().Patch(ctx, obj, patch); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("status of %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err))
			return
		}
		if err := w.event(ctx, obj, kind, want); err != nil {
			errs = append(errs, fmt.Errorf("event of %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err))
		}
	}
	// The objects in a State are shared and never modified: patch copies.
	for _, o := range s.IngressBackends {
		c := o.DeepCopy()
		update(c, "IngressBackend", &c.Status)
	}
	for _, o := range s.Egresses {
		c := o.DeepCopy()
		update(c, "Egress", &c.Status)
	}
	for _, o := range s.UpstreamTrafficSettings {
		c := o.DeepCopy()
		update(c, "UpstreamTrafficSetting", &c.Status)
	}
	for _, o := range s.Retries {
		c := o.DeepCopy()
		update(c, "Retry", &c.Status)
	}
	errs = append(errs, w.writeSMI(ctx, s, problems))
	errs = append(errs, w.writeRoutes(ctx, s, problems))
	errs = append(errs, w.writeGateways(ctx, s, problems))
	return errors.Join(errs...)
}

// smiAPIVersions are the versions of the kinds without a status that Weft
// reports on with events: SMI's, and the MeshConfig.
var smiAPIVersions = map[string]string{
	"TrafficTarget":  smiaccess.SchemeGroupVersion.String(),
	"HTTPRouteGroup": smispecs.SchemeGroupVersion.String(),
	"TCPRoute":       smispecs.SchemeGroupVersion.String(),
	"TrafficSplit":   splitv1alpha2.GroupVersion.String(),
	"MeshConfig":     configv1alpha2.GroupVersion.String(),
}

// writeSMI records events on the SMI policies and the MeshConfig (kinds
// without a status) whose problems changed: `kubectl describe meshconfig`
// shows each setting that was refused or is not carried out.
func (w *PolicyStatusWriter) writeSMI(ctx context.Context, s *State, problems func(kind, namespace, name string) []string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	seen := make(map[smiKey]smiReport, len(w.smi))
	var errs []error
	report := func(kind string, obj metav1.Object) {
		key := smiKey{kind, obj.GetNamespace(), obj.GetName()}
		now := smiReport{uid: obj.GetUID(), problems: strings.Join(problems(kind, obj.GetNamespace(), obj.GetName()), "; ")}
		prev, known := w.smi[key]
		known = known && prev.uid == now.uid
		seen[key] = now
		if known && prev == now {
			return
		}
		var err error
		switch {
		case now.problems != "":
			// Problems this writer saw change count again if they recur.
			err = w.recordSkipped(ctx, kind, obj, now.problems, known)
		case known:
			err = w.Client.Create(ctx, w.smiEvent(kind, obj, corev1.EventTypeNormal, "PolicyAccepted", "the policy is in force again"))
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("event of %s %s/%s: %w", kind, obj.GetNamespace(), obj.GetName(), err))
			if known {
				seen[key] = prev // try again on the next snapshot
			} else {
				delete(seen, key)
			}
		}
	}
	for _, o := range s.TrafficTargets {
		if o != nil {
			report("TrafficTarget", o)
		}
	}
	for _, o := range s.HTTPRouteGroups {
		if o != nil {
			report("HTTPRouteGroup", o)
		}
	}
	for _, o := range s.TCPRoutes {
		if o != nil {
			report("TCPRoute", o)
		}
	}
	for _, o := range s.TrafficSplits {
		if o != nil {
			report("TrafficSplit", o)
		}
	}
	if s.MeshConfig != nil {
		report("MeshConfig", s.MeshConfig)
	}
	w.smi = seen // forgets the policies that are gone
	return errors.Join(errs...)
}

// recordSkipped records the Warning for one set of problems under a name of
// its own. When that event exists already, it was recorded before (by this
// writer, by one restarted, or by another replica): again counts it once more,
// as when the problems come back after the policy was in force.
func (w *PolicyStatusWriter) recordSkipped(ctx context.Context, kind string, obj metav1.Object, problems string, again bool) error {
	e := w.smiEvent(kind, obj, corev1.EventTypeWarning, "PolicySkipped", problems)
	h := fnv.New64a()
	fmt.Fprintf(h, "%s\x00%s\x00%s", obj.GetUID(), kind, problems)
	e.GenerateName = ""
	e.Name = fmt.Sprintf("%s.%016x", eventPrefix(obj.GetName()), h.Sum64())
	err := w.Client.Create(ctx, e)
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	if !again {
		return nil
	}
	var existing corev1.Event
	if err := w.Client.Get(ctx, client.ObjectKeyFromObject(e), &existing); err != nil {
		return err
	}
	existing.Count++
	existing.LastTimestamp = e.LastTimestamp
	return w.Client.Update(ctx, &existing)
}

// smiEvent is an event on an SMI policy.
func (w *PolicyStatusWriter) smiEvent(kind string, obj metav1.Object, eventType, reason, message string) *corev1.Event {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	stamp := metav1.NewTime(now())
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: eventPrefix(obj.GetName()) + ".", Namespace: obj.GetNamespace()},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: smiAPIVersions[kind], Kind: kind,
			Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID(),
		},
		Type: eventType, Reason: reason, Message: truncate(message, maxEventMessage),
		Source: corev1.EventSource{Component: "weftd"}, Count: 1,
		FirstTimestamp: stamp, LastTimestamp: stamp,
	}
}

// eventPrefix is the start of the name of an event on the object name: at most
// 200 characters, so that a suffix fits in a name.
func eventPrefix(name string) string {
	if len(name) <= 200 {
		return name
	}
	return strings.TrimRight(name[:200], ".-")
}

// maxEventMessage is the longest event message Kubernetes' own recorder
// writes; longer problem lists are cut.
const maxEventMessage = 1024

// truncate cuts s to at most n bytes, marking the cut with "...".
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}

// event records a status change on the policy.
func (w *PolicyStatusWriter) event(ctx context.Context, obj client.Object, kind string, status policyv1alpha1.PolicyStatus) error {
	now := time.Now
	if w.Now != nil {
		now = w.Now
	}
	e := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{GenerateName: obj.GetName() + ".", Namespace: obj.GetNamespace()},
		InvolvedObject: corev1.ObjectReference{
			APIVersion: policyv1alpha1.GroupVersion.String(), Kind: kind,
			Namespace: obj.GetNamespace(), Name: obj.GetName(), UID: obj.GetUID(),
		},
		Type:    corev1.EventTypeNormal,
		Reason:  "PolicyCommitted",
		Message: "the policy is in force",
		Source:  corev1.EventSource{Component: "weftd"},
		Count:   1,
	}
	if status.CurrentStatus == policyv1alpha1.StatusRejected {
		e.Type, e.Reason, e.Message = corev1.EventTypeWarning, "PolicyRejected", status.Reason
	}
	e.FirstTimestamp = metav1.NewTime(now())
	e.LastTimestamp = e.FirstTimestamp
	return w.Client.Create(ctx, e)
}
