// Package admissiontest posts AdmissionReviews to a webhook's HTTP handler and
// checks what every admission answer must be, for the webhooks' fuzz targets.
// It imports no Weft package.
package admissiontest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	k8sjson "sigs.k8s.io/json"
)

// MaxAnswerTime bounds how long one answer may take.
const MaxAnswerTime = 5 * time.Second

// Post sends body to handler at path, as anyone who reaches weftd's webhook
// port can, and checks the answer: within MaxAnswerTime; a client error (then
// it returns nil), or an AdmissionReview response that is no server error (a
// recovered panic) and, when body is an AdmissionReview as the API server
// sends one, of the same version and with the request's UID.
func Post(t *testing.T, handler http.Handler, path string, body []byte) *admissionv1.AdmissionResponse {
	t.Helper()
	rec := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodPost, path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	handler.ServeHTTP(rec, req)
	if d := time.Since(start); d > MaxAnswerTime {
		t.Fatalf("the webhook took %v to answer", d)
	}
	if rec.Code >= 400 && rec.Code < 500 {
		return nil
	}
	if rec.Code != http.StatusOK {
		t.Fatalf("status %d: %s", rec.Code, rec.Body)
	}
	var out admissionv1.AdmissionReview
	if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil || out.Response == nil {
		t.Fatalf("answer is not an AdmissionReview response (%v): %s", err, rec.Body)
	}
	r := out.Response
	if r.Result != nil && r.Result.Code >= 500 {
		t.Fatalf("server error %d (a recovered panic?): %s", r.Result.Code, r.Result.Message)
	}
	if !r.Allowed && r.Result != nil && r.Result.Code == http.StatusBadRequest {
		return nil // a request that could not be read, answered as a client error
	}
	// The API server's decoding is case-sensitive; so is this one.
	var in admissionv1.AdmissionReview
	if k8sjson.UnmarshalCaseSensitivePreserveInts(body, &in) == nil && in.Request != nil && in.Kind == "AdmissionReview" &&
		(in.APIVersion == "admission.k8s.io/v1" || in.APIVersion == "admission.k8s.io/v1beta1") {
		if in.Request.UID != r.UID {
			t.Errorf("answer's UID %q, want the request's %q", r.UID, in.Request.UID)
		}
		if out.APIVersion != in.APIVersion || out.Kind != "AdmissionReview" {
			t.Errorf("answer is a %q %q, want an AdmissionReview of %s: %s", out.APIVersion, out.Kind, in.APIVersion, rec.Body)
		}
	}
	return r
}
