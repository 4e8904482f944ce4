package teststate

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"

	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s"
)

// Big is a generated mesh for benchmarks, monitored by mesh "osm" in the
// default options: services in namespaces of 20, each with its own service
// account, an http port (80) and a tcp-admin port (9000), and podsPer pods
// behind it (the first not ready); targets TrafficTargets (destination t mod
// services, two pseudo-random sources each, an HTTPRouteGroup rule with two
// matches and a TCPRoute rule); a TrafficSplit of every third of the first 300
// services (90/10) between the next two in its namespace; then extra.
func Big(services, podsPer, targets int, extra ...runtime.Object) *k8s.State {
	const perNamespace = 20
	var objs []runtime.Object
	ns := func(i int) string { return fmt.Sprintf("ns-%d", i/perNamespace) }
	name := func(i int) string { return fmt.Sprintf("svc-%d", i) }
	for i := 0; i < services; i += perNamespace {
		objs = append(objs,
			&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns(i), Labels: map[string]string{k8s.MonitoredByLabel: "osm"}}},
			&smispecs.HTTPRouteGroup{ObjectMeta: metav1.ObjectMeta{Name: "routes", Namespace: ns(i)}, Spec: smispecs.HTTPRouteGroupSpec{
				Matches: []smispecs.HTTPMatch{{Name: "get", PathRegex: "/api/.*", Methods: []string{"GET"}},
					{Name: "post", PathRegex: "/api/orders", Methods: []string{"POST"}, Headers: map[string]string{"x-user": ".+"}}}}},
			&smispecs.TCPRoute{ObjectMeta: metav1.ObjectMeta{Name: "tcp", Namespace: ns(i)}, Spec: smispecs.TCPRouteSpec{
				Matches: smispecs.TCPMatch{Name: "tcp", Ports: []int{9000}}}})
	}
	for i := range services {
		meta := metav1.ObjectMeta{Name: name(i), Namespace: ns(i)}
		objs = append(objs,
			&corev1.ServiceAccount{ObjectMeta: meta},
			&corev1.Service{ObjectMeta: meta, Spec: corev1.ServiceSpec{
				ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
				Selector:  map[string]string{"app": name(i)},
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)},
					{Name: "tcp-admin", Port: 9000, TargetPort: intstr.FromInt32(9000)}}}})
		es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: name(i) + "-abc", Namespace: ns(i),
			Labels: map[string]string{discoveryv1.LabelServiceName: name(i)}}, AddressType: discoveryv1.AddressTypeIPv4,
			Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](8080)}, {Name: ptr.To("tcp-admin"), Port: ptr.To[int32](9000)}}}
		for p := range podsPer {
			pod := fmt.Sprintf("%s-%d", name(i), p)
			ip := fmt.Sprintf("10.%d.%d.%d", 10+(i*podsPer+p)/65536, (i*podsPer+p)/256%256, (i*podsPer+p)%256)
			objs = append(objs, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: pod, Namespace: ns(i), Labels: map[string]string{"app": name(i), "pod-template-hash": "abc"}},
				Spec: corev1.PodSpec{ServiceAccountName: name(i)}, Status: corev1.PodStatus{PodIP: ip}})
			es.Endpoints = append(es.Endpoints, discoveryv1.Endpoint{Addresses: []string{ip},
				Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(p != 0)},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Name: pod, Namespace: ns(i)}})
		}
		objs = append(objs, es)
	}
	for t := range targets {
		dest := t % services
		src := func(k int) smiaccess.IdentityBindingSubject {
			j := (t*7919 + k*104729 + 1) % services
			return smiaccess.IdentityBindingSubject{Kind: "ServiceAccount", Name: name(j), Namespace: ns(j)}
		}
		objs = append(objs, &smiaccess.TrafficTarget{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("tt-%d", t), Namespace: ns(dest)},
			Spec: smiaccess.TrafficTargetSpec{
				Destination: smiaccess.IdentityBindingSubject{Kind: "ServiceAccount", Name: name(dest), Namespace: ns(dest)},
				Sources:     []smiaccess.IdentityBindingSubject{src(0), src(1)},
				Rules: []smiaccess.TrafficTargetRule{{Kind: "HTTPRouteGroup", Name: "routes", Matches: []string{"get", "post"}},
					{Kind: "TCPRoute", Name: "tcp"}}}})
	}
	for i := 0; i+2 < services && i < 300; i += 3 {
		if ns(i) != ns(i+2) {
			continue
		}
		objs = append(objs, &splitv1alpha2.TrafficSplit{ObjectMeta: metav1.ObjectMeta{Name: "split-" + name(i), Namespace: ns(i)},
			Spec: splitv1alpha2.TrafficSplitSpec{Service: name(i), Backends: []splitv1alpha2.TrafficSplitBackend{
				{Service: name(i + 1), Weight: resource.MustParse("900m")}, {Service: name(i + 2), Weight: resource.MustParse("100m")}}}})
	}
	return k8s.NewState(append(objs, extra...), k8s.DefaultOptions(), nil)
}
