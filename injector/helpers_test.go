package injector_test

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	jsonpatch "github.com/evanphx/json-patch/v5"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/pkg/identity"
)

// newCA returns a CA manager on a fresh internal root, issuing ECDSA P-256
// certificates as weftd does.
func newCA(t testing.TB) *ca.Manager {
	t.Helper()
	roots, err := internalca.NewRoot("weft injector test root", internalca.DefaultRootValidity, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, err := ca.NewManager(ca.Options{Signer: internalca.New(roots, clock.RealClock{}), TrustDomain: identity.DefaultTrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// missingServiceAccount is the one service account serviceAccounts does not
// have.
const missingServiceAccount = "no-such-account"

// serviceAccounts serves every service account but missingServiceAccount, as
// a cache would.
func serviceAccounts() func(context.Context, string, string) (*corev1.ServiceAccount, error) {
	return func(_ context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
		if name == missingServiceAccount {
			return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "serviceaccounts"}, name)
		}
		return &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: namespace, Name: name}}, nil
	}
}

// namespaces serves fixed namespaces, as a cache would.
func namespaces(nss ...*corev1.Namespace) func(context.Context, string) (*corev1.Namespace, error) {
	byName := map[string]*corev1.Namespace{}
	for _, ns := range nss {
		byName[ns.Name] = ns
	}
	return func(_ context.Context, name string) (*corev1.Namespace, error) {
		if ns, ok := byName[name]; ok {
			return ns, nil
		}
		return nil, apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, name)
	}
}

func namespace(name string, labels, annotations map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels, Annotations: annotations}}
}

// meshed is a namespace monitored by mesh "osm" with injection enabled.
func meshed(name string) *corev1.Namespace {
	return namespace(name, map[string]string{injector.LabelMonitoredBy: "osm"},
		map[string]string{injector.AnnotationSidecarInjection: "enabled"})
}

// createRequest is the admission request the API server sends for creating pod
// in namespace.
func createRequest(t testing.TB, namespace string, pod *corev1.Pod, dryRun bool) admission.Request {
	t.Helper()
	raw, err := json.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	return createRequestRaw(namespace, raw, dryRun)
}

func createRequestRaw(namespace string, raw []byte, dryRun bool) admission.Request {
	return admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "0b4c2a6e-0000-4000-8000-000000000001",
		Kind:      metav1.GroupVersionKind{Version: "v1", Kind: "Pod"},
		Resource:  metav1.GroupVersionResource{Version: "v1", Resource: "pods"},
		Namespace: namespace,
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
		DryRun:    &dryRun,
	}}
}

func appPod(name string) *corev1.Pod {
	return &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			ServiceAccountName: name,
			Containers:         []corev1.Container{{Name: name, Image: "example.com/" + name + ":v1"}},
		},
	}
}

// applyPatch applies the response's JSON patch to the original pod, as the API
// server does, and decodes the result.
func applyPatch(t testing.TB, original []byte, resp admission.Response) *corev1.Pod {
	t.Helper()
	ops, err := json.Marshal(resp.Patches)
	if err != nil {
		t.Fatal(err)
	}
	patch, err := jsonpatch.DecodePatch(ops)
	if err != nil {
		t.Fatalf("decoding patch %s: %v", ops, err)
	}
	patched, err := patch.Apply(original)
	if err != nil {
		t.Fatalf("applying patch %s to %s: %v", ops, original, err)
	}
	var pod corev1.Pod
	if err := json.Unmarshal(patched, &pod); err != nil {
		t.Fatalf("patched pod does not decode: %v\n%s", err, patched)
	}
	return &pod
}

func container(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.Containers {
		if pod.Spec.Containers[i].Name == name {
			return &pod.Spec.Containers[i]
		}
	}
	return nil
}

func initContainer(pod *corev1.Pod, name string) *corev1.Container {
	for i := range pod.Spec.InitContainers {
		if pod.Spec.InitContainers[i].Name == name {
			return &pod.Spec.InitContainers[i]
		}
	}
	return nil
}
