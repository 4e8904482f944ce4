package k8s_test

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weft-mesh/weft/pkg/k8s"
)

func TestGatewayStatusFor(t *testing.T) {
	gw := &gatewayv1.Gateway{ObjectMeta: metav1.ObjectMeta{Namespace: "app", Name: "ingress", Generation: 2}, Spec: gatewayv1.GatewaySpec{
		Listeners: []gatewayv1.Listener{
			{Name: "http", Protocol: gatewayv1.HTTPProtocolType, Port: 80},
			{Name: "again", Protocol: gatewayv1.HTTPSProtocolType, Port: 80},
			{Name: "db", Protocol: gatewayv1.TCPProtocolType, Port: 5432},
		}}}
	problems := []string{
		"spec.listeners[1].port: ProtocolConflict: listener http already takes port 80 for http; listener skipped",
		"spec.listeners[2].protocol: UnsupportedProtocol: protocol TCP is not supported yet; listener skipped",
	}
	t0, t1 := metav1.NewTime(time.Unix(1000, 0)), metav1.NewTime(time.Unix(2000, 0))
	lb := &corev1.Service{Status: corev1.ServiceStatus{LoadBalancer: corev1.LoadBalancerStatus{Ingress: []corev1.LoadBalancerIngress{{IP: "203.0.113.7"}, {Hostname: "lb.example.com"}}}},
		Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.9"}}
	for _, tc := range []struct {
		name       string
		svc        *corev1.Service
		addresses  []string
		programmed metav1.ConditionStatus
	}{
		{"no Service yet", nil, nil, metav1.ConditionFalse},
		{"a ClusterIP only", &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.9"}}, []string{"10.96.0.9"}, metav1.ConditionTrue},
		{"the load balancer's first", lb, []string{"203.0.113.7", "lb.example.com"}, metav1.ConditionTrue},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := k8s.GatewayStatusFor(gw, problems, tc.svc, []int32{3, 0, 0}, gatewayv1.GatewayStatus{}, t0)
			var addrs []string
			for _, a := range st.Addresses {
				addrs = append(addrs, a.Value)
			}
			if len(addrs) != len(tc.addresses) || (len(addrs) > 0 && addrs[len(addrs)-1] != tc.addresses[len(tc.addresses)-1]) {
				t.Errorf("addresses %v, want %v", addrs, tc.addresses)
			}
			if c := meta.FindStatusCondition(st.Conditions, "Programmed"); c == nil || c.Status != tc.programmed || c.ObservedGeneration != 2 {
				t.Errorf("Programmed %+v, want %s", c, tc.programmed)
			}
			if c := meta.FindStatusCondition(st.Conditions, "Accepted"); c == nil || c.Status != "True" || c.Reason != "ListenersNotValid" {
				t.Errorf("Accepted %+v, want True ListenersNotValid", c)
			}
			want := []struct{ accepted, conflicted, programmedReason string }{
				{"True", "False", map[bool]string{true: "Programmed", false: "Pending"}[tc.programmed == metav1.ConditionTrue]},
				{"True", "True", "Invalid"},
				{"False", "False", "Invalid"},
			}
			for i, w := range want {
				ls := st.Listeners[i]
				a, c, p := meta.FindStatusCondition(ls.Conditions, "Accepted"), meta.FindStatusCondition(ls.Conditions, "Conflicted"), meta.FindStatusCondition(ls.Conditions, "Programmed")
				if string(a.Status) != w.accepted || string(c.Status) != w.conflicted || p.Reason != w.programmedReason {
					t.Errorf("listener %s: Accepted %s, Conflicted %s, Programmed %s; want %v", ls.Name, a.Status, c.Status, p.Reason, w)
				}
			}
			if st.Listeners[0].AttachedRoutes != 3 {
				t.Errorf("attached routes %d", st.Listeners[0].AttachedRoutes)
			}
			// Unchanged conditions keep their time.
			again := k8s.GatewayStatusFor(gw, problems, tc.svc, []int32{3, 0, 0}, st, t1)
			if c := meta.FindStatusCondition(again.Conditions, "Accepted"); c.LastTransitionTime != t0 {
				t.Errorf("Accepted's time moved to %v", c.LastTransitionTime)
			}
		})
	}
}

// A route with a Service parent and a Weft Gateway parent gets an entry of
// each controller, and keeps another controller's.
func TestGatewayRouteParentStatusesKeepGAMMAs(t *testing.T) {
	svc, gw := gatewayv1.Group(""), gatewayv1.Kind("Service")
	parents := []gatewayv1.ParentReference{{Group: &svc, Kind: &gw, Name: "web"}, {Name: "ingress"}, {Name: "theirs"}}
	other := gatewayv1.RouteParentStatus{ParentRef: gatewayv1.ParentReference{Name: "theirs"}, ControllerName: "example.com/gateway"}
	now := metav1.NewTime(time.Unix(1000, 0))
	problems := []string{"spec.parentRefs[1]: NotAllowedByListeners: no listener of Gateway app/ingress allows this route (allowedRoutes); parent skipped"}
	st := k8s.RouteParentStatuses(1, "app", parents, []gatewayv1.RouteParentStatus{other}, problems, now)
	weft := func(p gatewayv1.ParentReference) bool { return p.Name == "ingress" }
	st = k8s.GatewayRouteParentStatuses(1, "app", parents, weft, st, problems, now)
	if len(st) != 3 || st[0].ControllerName != "example.com/gateway" || st[1].ControllerName != k8s.GatewayControllerName || st[2].ControllerName != k8s.GatewayIngressController {
		t.Fatalf("entries %+v", st)
	}
	if c := meta.FindStatusCondition(st[1].Conditions, "Accepted"); c.Status != "True" {
		t.Errorf("the Service parent's Accepted %+v", c)
	}
	if c := meta.FindStatusCondition(st[2].Conditions, "Accepted"); c.Status != "False" || c.Reason != "NotAllowedByListeners" {
		t.Errorf("the Gateway parent's Accepted %+v", c)
	}
}
