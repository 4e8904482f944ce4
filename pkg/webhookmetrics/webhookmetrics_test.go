package webhookmetrics_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/weft-mesh/weft/pkg/webhookmetrics"
)

// TestAdmissionAnswersAreCountedAndTimed sends real AdmissionReviews through
// an instrumented handler that allows Pods and denies Retries.
func TestAdmissionAnswersAreCountedAndTimed(t *testing.T) {
	reg := prometheus.NewRegistry()
	m, err := webhookmetrics.New(reg)
	if err != nil {
		t.Fatal(err)
	}
	h := m.Handler("/mutate-pod-creation", admission.HandlerFunc(func(_ context.Context, req admission.Request) admission.Response {
		if req.Kind.Kind == "Pod" {
			return admission.Allowed("")
		}
		return admission.Denied("no")
	}))
	for _, kind := range []string{"Pod", "Pod", "Retry"} {
		review := admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request: &admissionv1.AdmissionRequest{UID: types.UID("u-" + kind), Kind: metav1.GroupVersionKind{Version: "v1", Kind: kind},
				Operation: admissionv1.Create, Object: runtimeRaw(`{}`)},
		}
		body, err := json.Marshal(review)
		if err != nil {
			t.Fatal(err)
		}
		req := httptest.NewRequest(http.MethodPost, "/mutate-pod-creation", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: HTTP %d: %s", kind, rec.Code, rec.Body)
		}
	}

	want := `
# HELP osm_admission_webhook_response_total Admission answers, by the request's kind and whether it was allowed (OSM's name).
# TYPE osm_admission_webhook_response_total counter
osm_admission_webhook_response_total{kind="Pod",success="true"} 2
osm_admission_webhook_response_total{kind="Retry",success="false"} 1
# HELP osm_http_response_total HTTP responses of the webhooks, by code, method and path (OSM's name).
# TYPE osm_http_response_total counter
osm_http_response_total{code="200",method="post",path="/mutate-pod-creation"} 3
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "osm_admission_webhook_response_total", "osm_http_response_total"); err != nil {
		t.Error(err)
	}
	// OSM's dashboard selects method="post" and the path.
	if n := testutil.CollectAndCount(reg, "osm_http_response_duration"); n != 1 {
		t.Errorf("osm_http_response_duration has %d series, want 1", n)
	}
}

func runtimeRaw(s string) runtime.RawExtension { return runtime.RawExtension{Raw: []byte(s)} }
