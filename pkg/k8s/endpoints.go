package k8s

import (
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
)

// DerivedAnnotation marks an EndpointSlice that the files source derived from
// Pods; its value is the Service's name.
const DerivedAnnotation = "weft.io/derived-from-pods"

// EndpointSlicesFromPods makes the EndpointSlices the EndpointSlice controller
// would make for Services with a selector, from the Pods in objs that have an
// IP (status.podIP), so that a folder of YAML can describe running workloads
// (the local demo's pods are processes on loopback addresses). A Service that
// already has an EndpointSlice in objs keeps only those: written slices win.
// A Pod counts unless it is deleted or has finished; it is ready unless its
// Ready condition says otherwise. A named targetPort resolves through the
// Pod's container ports; a Pod without that port is left out of the port, as
// Kubernetes leaves it out.
func EndpointSlicesFromPods(objs []runtime.Object) []runtime.Object {
	written := map[[2]string]bool{}
	var pods []*corev1.Pod
	var services []*corev1.Service
	for _, o := range objs {
		switch v := o.(type) {
		case *discoveryv1.EndpointSlice:
			written[[2]string{v.Namespace, v.Labels[discoveryv1.LabelServiceName]}] = true
		case *corev1.Pod:
			if v.Status.PodIP != "" && v.DeletionTimestamp == nil &&
				v.Status.Phase != corev1.PodSucceeded && v.Status.Phase != corev1.PodFailed {
				pods = append(pods, v)
			}
		case *corev1.Service:
			services = append(services, v)
		}
	}
	var out []runtime.Object
	for _, svc := range services {
		if len(svc.Spec.Selector) == 0 || written[[2]string{svc.Namespace, svc.Name}] {
			continue
		}
		selector := labels.SelectorFromSet(svc.Spec.Selector)
		for _, family := range []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6} {
			out = append(out, derivedSlices(svc, family, pods, selector)...)
		}
	}
	return out
}

// derivedSlices are a Service's slices of one address family: one per set of
// resolved ports, since pods may give a named targetPort different numbers
// (Kubernetes splits slices the same way).
func derivedSlices(svc *corev1.Service, family discoveryv1.AddressType, pods []*corev1.Pod, selector labels.Selector) []runtime.Object {
	var out []runtime.Object
	var made []*discoveryv1.EndpointSlice
	for _, pod := range pods {
		if pod.Namespace != svc.Namespace || !selector.Matches(labels.Set(pod.Labels)) {
			continue
		}
		addr, err := netip.ParseAddr(pod.Status.PodIP)
		if err != nil || (family == discoveryv1.AddressTypeIPv4) != addr.Is4() {
			continue
		}
		ports := podPorts(svc, pod)
		if len(ports) == 0 {
			continue
		}
		i := slices.IndexFunc(made, func(s *discoveryv1.EndpointSlice) bool { return slices.EqualFunc(s.Ports, ports, samePort) })
		if i < 0 {
			i = len(made)
			made = append(made, &discoveryv1.EndpointSlice{
				TypeMeta: metav1.TypeMeta{APIVersion: "discovery.k8s.io/v1", Kind: "EndpointSlice"},
				ObjectMeta: metav1.ObjectMeta{
					Name:        fmt.Sprintf("%s-%s-%d", svc.Name, strings.ToLower(string(family)), i),
					Namespace:   svc.Namespace,
					Labels:      map[string]string{discoveryv1.LabelServiceName: svc.Name},
					Annotations: map[string]string{DerivedAnnotation: svc.Name},
				},
				AddressType: family,
				Ports:       ports,
			})
			out = append(out, made[i])
		}
		ready := podReady(pod)
		ep := discoveryv1.Endpoint{
			Addresses:  []string{addr.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(ready), Serving: ptr.To(ready), Terminating: ptr.To(false)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			ep.NodeName = ptr.To(pod.Spec.NodeName)
		}
		if pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name {
			ep.Hostname = ptr.To(pod.Spec.Hostname)
		}
		made[i].Endpoints = append(made[i].Endpoints, ep)
	}
	return out
}

// podPorts resolves the Service's ports on one pod.
func podPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	var out []discoveryv1.EndpointPort
	for _, sp := range svc.Spec.Ports {
		number := sp.TargetPort.IntVal
		if sp.TargetPort.StrVal != "" {
			number = containerPort(pod, sp.TargetPort.StrVal)
		} else if number == 0 {
			number = sp.Port
		}
		if number == 0 {
			continue
		}
		out = append(out, discoveryv1.EndpointPort{Name: ptr.To(sp.Name), Port: ptr.To(number), Protocol: ptr.To(orTCP(sp.Protocol)), AppProtocol: sp.AppProtocol})
	}
	return out
}

func containerPort(pod *corev1.Pod, name string) int32 {
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.Name == name {
				return p.ContainerPort
			}
		}
	}
	return 0
}

func orTCP(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

func samePort(a, b discoveryv1.EndpointPort) bool {
	return ptr.Deref(a.Name, "") == ptr.Deref(b.Name, "") && ptr.Deref(a.Port, 0) == ptr.Deref(b.Port, 0)
}

// podReady reads the Pod's Ready condition; a Pod without one (as written in
// a file) is ready.
func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return true
}
