package injector_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/weft-mesh/weft/injector"
)

func TestDecide(t *testing.T) {
	monitored := map[string]string{injector.LabelMonitoredBy: "osm"}
	enabled := map[string]string{injector.AnnotationSidecarInjection: "enabled"}
	disabled := map[string]string{injector.AnnotationSidecarInjection: "disabled"}
	withLabels := func(extra map[string]string) map[string]string {
		out := map[string]string{injector.LabelMonitoredBy: "osm"}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	pod := func(mutate func(*corev1.Pod)) *corev1.Pod {
		p := appPod("bookstore")
		if mutate != nil {
			mutate(p)
		}
		return p
	}
	annotated := func(v string) func(*corev1.Pod) {
		return func(p *corev1.Pod) { p.Annotations = map[string]string{injector.AnnotationSidecarInjection: v} }
	}
	tests := []struct {
		name       string
		ns         *corev1.Namespace
		pod        *corev1.Pod
		wantInject bool
		wantReason string
		wantErr    string
	}{
		{name: "a pod in a monitored namespace with injection enabled is injected",
			ns: namespace("bookstore", monitored, enabled), pod: pod(nil), wantInject: true, wantReason: "annotation enables"},
		{name: "the namespace label enables injection like the annotation",
			ns: namespace("bookstore", withLabels(enabled), nil), pod: pod(nil), wantInject: true, wantReason: "label enables"},
		{name: "a monitored namespace without the injection annotation injects nothing",
			ns: namespace("bookstore", monitored, nil), pod: pod(nil), wantReason: "neither the pod nor namespace bookstore enables injection"},
		{name: "a pod annotated enabled in a monitored namespace without the namespace annotation is injected",
			ns: namespace("bookstore", monitored, nil), pod: pod(annotated("enabled")), wantInject: true, wantReason: "the pod's annotation enables injection"},
		{name: "a pod annotated disabled is not injected although its namespace enables injection",
			ns: namespace("bookstore", monitored, enabled), pod: pod(annotated("disabled")), wantReason: "the pod's annotation disables injection"},
		{name: "OSM's other spellings are accepted",
			ns: namespace("bookstore", monitored, nil), pod: pod(annotated("Yes")), wantInject: true},
		{name: "a namespace that disables injection injects nothing",
			ns: namespace("bookstore", monitored, disabled), pod: pod(nil), wantReason: "annotation disables"},
		{name: "an unmonitored namespace injects nothing even for an annotated pod",
			ns: namespace("bookstore", nil, enabled), pod: pod(annotated("enabled")), wantReason: "not monitored"},
		{name: "a namespace monitored by another mesh injects nothing",
			ns: namespace("bookstore", map[string]string{injector.LabelMonitoredBy: "other"}, enabled), pod: pod(nil), wantReason: `monitored by mesh "other", not "osm"`},
		{name: "the mesh's own namespace is never injected",
			ns: namespace("osm-system", monitored, enabled), pod: pod(nil), wantReason: "the mesh's own namespace"},
		{name: "a hostNetwork pod is never injected",
			ns: namespace("bookstore", monitored, enabled), pod: pod(func(p *corev1.Pod) { p.Spec.HostNetwork = true }), wantReason: "host's network"},
		{name: "a hostNetwork pod is not injected even when annotated enabled",
			ns: namespace("bookstore", monitored, enabled), pod: pod(func(p *corev1.Pod) { p.Spec.HostNetwork = true; annotated("enabled")(p) }), wantReason: "host's network"},
		{name: "a pod with a proxy UUID label is already injected",
			ns: namespace("bookstore", monitored, enabled), pod: pod(func(p *corev1.Pod) { p.Labels[injector.LabelProxyUUID] = "x" }), wantReason: "already has a sidecar"},
		{name: "a pod with an envoy container is already injected",
			ns: namespace("bookstore", monitored, enabled), pod: pod(func(p *corev1.Pod) { p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "envoy"}) }), wantReason: "already has a sidecar"},
		{name: "a pod annotation that is neither enabled nor disabled is an error naming it",
			ns: namespace("bookstore", monitored, enabled), pod: pod(annotated("enable")), wantErr: `pod annotation openservicemesh.io/sidecar-injection: "enable" is neither enabled nor disabled`},
		{name: "a namespace annotation that is neither enabled nor disabled is an error naming the namespace",
			ns: namespace("bookstore", monitored, map[string]string{injector.AnnotationSidecarInjection: "on"}), pod: pod(nil),
			wantErr: `namespace bookstore annotation openservicemesh.io/sidecar-injection: "on" is neither enabled nor disabled`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := injector.Decide("osm", "osm-system", tt.ns, tt.pod)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Inject != tt.wantInject || !strings.Contains(got.Reason, tt.wantReason) {
				t.Errorf("Decide = %+v, want inject %v with a reason containing %q", got, tt.wantInject, tt.wantReason)
			}
		})
	}
}
