package k8s_test

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weft-mesh/weft/pkg/k8s"
)

func TestRouteParentStatuses(t *testing.T) {
	parents := []gatewayv1.ParentReference{{Group: ptr.To[gatewayv1.Group](""), Kind: ptr.To[gatewayv1.Kind]("Service"), Name: "web"}}
	other := gatewayv1.RouteParentStatus{ParentRef: gatewayv1.ParentReference{Name: "gw"}, ControllerName: "example.com/gateway"}
	t0, t1 := metav1.NewTime(time.Unix(1000, 0)), metav1.NewTime(time.Unix(2000, 0))
	problems := []string{
		"spec.rules[0].backendRefs[1]: RefNotPermitted: no ReferenceGrant in namespace c lets HTTPRoute b/r reach service c/far; backend skipped",
		"spec.rules[1].filters[0]: UnsupportedValue: filter RequestRedirect is not supported; rule skipped",
		"spec.parentRefs: TrafficSplit b/s also splits service b/web; this route takes precedence and the TrafficSplit is skipped",
	}
	first := k8s.RouteParentStatuses(3, "b", parents, []gatewayv1.RouteParentStatus{other}, problems, t0)
	if len(first) != 2 || first[0].ControllerName != "example.com/gateway" {
		t.Fatalf("entries %+v: want the other controller's kept, then Weft's", first)
	}
	conds := first[1].Conditions
	want := []struct{ typ, status, reason string }{
		{"Accepted", "True", "Accepted"}, {"ResolvedRefs", "False", "RefNotPermitted"}, {"PartiallyInvalid", "True", "UnsupportedValue"},
	}
	if len(conds) != len(want) {
		t.Fatalf("conditions %+v", conds)
	}
	for i, w := range want {
		c := conds[i]
		if c.Type != w.typ || string(c.Status) != w.status || c.Reason != w.reason || c.ObservedGeneration != 3 || c.LastTransitionTime != t0 {
			t.Errorf("condition %d: %+v, want %v at generation 3", i, c, w)
		}
	}
	if !strings.Contains(conds[0].Message, "TrafficSplit b/s also splits service b/web") {
		t.Errorf("Accepted's message %q does not name the TrafficSplit the route wins over", conds[0].Message)
	}
	if *first[1].ParentRef.Namespace != "b" {
		t.Errorf("parentRef namespace %v, want the route's", first[1].ParentRef.Namespace)
	}
	// Fixed: ResolvedRefs turns True at t1, the unchanged Accepted keeps t0,
	// and PartiallyInvalid goes.
	second := k8s.RouteParentStatuses(4, "b", parents, first, nil, t1)
	conds = second[1].Conditions
	if len(conds) != 2 || conds[0].LastTransitionTime != t0 || conds[1].Status != "True" || conds[1].LastTransitionTime != t1 || conds[0].ObservedGeneration != 4 {
		t.Errorf("conditions after the fix %+v", conds)
	}
}
