package k8s

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
)

// PolicyStatusWriter writes the mesh's verdict on each OSM policy to its status,
// as OSM did: currentStatus "committed", or "rejected" with the reasons the
// policy (or a part of it) was skipped. Users see it with
// `kubectl get ingressbackends`. Writes happen only when the status changes,
// and each change is also recorded as an event on the policy (Warning
// PolicyRejected, Normal PolicyCommitted), as `kubectl describe` shows.
type PolicyStatusWriter struct {
	Client client.Client
	// Now stamps events; default time.Now.
	Now func() time.Time
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
	return errors.Join(errs...)
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
