package injector_test

import (
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/internal/admissiontest"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// FuzzPatch sends arbitrary pods (as the API server would serialize them) to
// the webhook in a meshed namespace with metrics enabled: it never panics, and
// every patched answer is a JSON patch that applies to the pod and yields a
// pod with the envoy and osm-init containers and the proxy label, the app's
// containers kept in order.
func FuzzPatch(f *testing.F) {
	seeds := []string{
		`{"metadata":{"name":"bookstore"},"spec":{"containers":[{"name":"bookstore","image":"bookstore:v1"}]}}`,
		`{"metadata":{"generateName":"bookbuyer-","labels":{"app":"bookbuyer"},"annotations":{"openservicemesh.io/outbound-port-exclusion-list":"6379","openservicemesh.io/inbound-port-exclusion-list":"9000"}},"spec":{"serviceAccountName":"bookbuyer","initContainers":[{"name":"migrate","image":"m"}],"containers":[{"name":"app","image":"a","ports":[{"name":"http","containerPort":8080}],"livenessProbe":{"httpGet":{"path":"/healthz","port":"http"}},"readinessProbe":{"tcpSocket":{"port":8080}},"startupProbe":{"httpGet":{"path":"/start","port":8443,"scheme":"HTTPS"}}},{"name":"side","image":"s","livenessProbe":{"httpGet":{"path":"/l","port":9090}},"readinessProbe":{"grpc":{"port":9091}},"startupProbe":{"exec":{"command":["true"]}}}]}}`,
		`{"metadata":{"name":"host"},"spec":{"hostNetwork":true,"containers":[{"name":"c"}]}}`,
		`{"metadata":{"name":"off","annotations":{"openservicemesh.io/sidecar-injection":"disabled"}},"spec":{"containers":[{"name":"c"}]}}`,
		`{"metadata":{"name":"typo","annotations":{"openservicemesh.io/sidecar-injection":"enable"}},"spec":{"containers":[{"name":"c"}]}}`,
		`{"metadata":{"name":"vols"},"spec":{"volumes":[{"name":"data","emptyDir":{}}],"containers":[{"name":"c","volumeMounts":[{"name":"data","mountPath":"/data"}]}]}}`,
		`{}`,
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	w, err := injector.NewWebhook(injector.Options{
		MeshName: "osm", MeshNamespace: "osm-system",
		ServiceAccounts: serviceAccounts(),
		Namespaces: namespaces(namespace("fuzz", map[string]string{injector.LabelMonitoredBy: "osm"},
			map[string]string{injector.AnnotationSidecarInjection: "enabled", injector.AnnotationMetrics: "enabled"})),
		MeshConfig: func() *configv1alpha2.MeshConfig {
			mc := &configv1alpha2.MeshConfig{}
			mc.Spec.Traffic.OutboundPortExclusionList = []configv1alpha2.Port{6379}
			mc.Spec.Sidecar.EnablePrivilegedInitContainer = true
			return mc
		},
		NewProxyID: func() string { return "5bd7b0a6-52a4-4c35-9d0b-0c6f1f7e8a11" },
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var in corev1.Pod
		if json.Unmarshal(data, &in) != nil {
			return
		}
		// The API server sends its own serialization of the pod.
		original, err := json.Marshal(&in)
		if err != nil {
			return
		}
		resp := w.Handle(context.Background(), createRequestRaw("fuzz", original, false))
		if !resp.Allowed {
			if msg := resp.Result.Message; !strings.Contains(msg, "in namespace fuzz") {
				t.Fatalf("denial does not name the namespace: %q", msg)
			}
			return
		}
		if len(resp.Patches) == 0 {
			return
		}
		got := applyPatch(t, original, resp)
		if got.Labels[injector.LabelProxyUUID] != "5bd7b0a6-52a4-4c35-9d0b-0c6f1f7e8a11" {
			t.Errorf("patched pod has labels %v, want the proxy UUID", got.Labels)
		}
		n := len(got.Spec.Containers)
		if n != len(in.Spec.Containers)+1 || got.Spec.Containers[n-1].Name != injector.EnvoyContainerName {
			t.Fatalf("patched pod's containers: %d, last %q; want the %d app containers then envoy", n, got.Spec.Containers[n-1].Name, len(in.Spec.Containers))
		}
		for i, c := range in.Spec.Containers {
			if got.Spec.Containers[i].Name != c.Name || got.Spec.Containers[i].Image != c.Image {
				t.Errorf("container %d is %q (%s), want %q (%s)", i, got.Spec.Containers[i].Name, got.Spec.Containers[i].Image, c.Name, c.Image)
			}
		}
		if initContainer(got, injector.InitContainerName) == nil {
			t.Errorf("patched pod has no %s init container", injector.InitContainerName)
		}
		if _, err := injector.HealthProbes(got.Annotations); err != nil {
			t.Error(err)
		}
	})
}

// FuzzAdmissionReview posts arbitrary bytes to the webhook's HTTP handler, as
// anyone who reaches weftd's webhook port can: it never panics, answers in
// bounded time, and every answer is a client error or a well-formed
// AdmissionReview response (admissiontest.Post) with a reason for a denial.
//
//	go test -run '^$' -fuzz '^FuzzAdmissionReview$' -fuzztime 10m ./injector/
func FuzzAdmissionReview(f *testing.F) {
	review := func(pod string, dryRun bool) string {
		return `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"0b4c2a6e-0000-4000-8000-000000000001",` +
			`"kind":{"version":"v1","kind":"Pod"},"resource":{"version":"v1","resource":"pods"},"namespace":"fuzz","operation":"CREATE",` +
			`"dryRun":` + strconv.FormatBool(dryRun) + `,"object":` + pod + `}}`
	}
	for _, s := range []string{
		review(`{"metadata":{"name":"bookstore"},"spec":{"serviceAccountName":"bookstore","containers":[{"name":"bookstore","image":"b"}]}}`, false),
		review(`{"metadata":{"generateName":"x-","annotations":{"openservicemesh.io/sidecar-injection":"enable"}},"spec":{"containers":[]}}`, true),
		review(`{"metadata":{"name":"sa"},"spec":{"serviceAccountName":"`+missingServiceAccount+`","containers":[{"name":"c"}]}}`, false),
		review(`"not a pod"`, false),
		`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"1","operation":"DELETE","kind":{"kind":"Pod"}}}`,
		`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`,
		`{}`, `[]`, `null`, ``,
	} {
		f.Add([]byte(s))
	}
	w, err := injector.NewWebhook(injector.Options{
		MeshName: "osm", MeshNamespace: "osm-system",
		ServiceAccounts: serviceAccounts(),
		Namespaces: namespaces(namespace("fuzz", map[string]string{injector.LabelMonitoredBy: "osm"},
			map[string]string{injector.AnnotationSidecarInjection: "enabled"})),
		MeshConfig: func() *configv1alpha2.MeshConfig { return nil },
	})
	if err != nil {
		f.Fatal(err)
	}
	handler := w.HTTPHandler()
	f.Fuzz(func(t *testing.T, body []byte) {
		r := admissiontest.Post(t, handler, injector.Path, body)
		if r != nil && !r.Allowed && (r.Result == nil || r.Result.Message == "") {
			t.Errorf("denied without a reason: %+v", r)
		}
	})
}
