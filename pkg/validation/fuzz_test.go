package validation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/internal/admissiontest"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/validation"
)

// FuzzValidateAdmissionReview posts arbitrary bytes to the policy webhook's
// HTTP handler, as anyone who reaches weftd's webhook port can. Seeds are
// AdmissionReviews of every kind the webhook checks, valid and invalid, as the
// API server sends them. The handler never panics (controller-runtime would
// turn a panic into a 500), answers within a bounded time, and every answer is
// either a client error or a well-formed AdmissionReview response that echoes
// the request's UID and gives a reason for each denial.
//
//	go test -run '^$' -fuzz '^FuzzValidateAdmissionReview$' -fuzztime 10m ./pkg/validation/
func FuzzValidateAdmissionReview(f *testing.F) {
	for _, seed := range admissionSeeds(f) {
		f.Add(seed)
	}
	handler := validation.NewWebhook(claimedHosts{"bookstore.bookstore.svc.cluster.local"}).HTTPHandler()
	f.Fuzz(func(t *testing.T, body []byte) {
		r := admissiontest.Post(t, handler, validation.Path, body)
		if r == nil {
			return
		}
		if len(r.Patch) != 0 || r.PatchType != nil {
			t.Errorf("a validating webhook answered with a patch: %+v", r)
		}
		if !r.Allowed && (r.Result == nil || r.Result.Message == "") {
			t.Errorf("denied without a reason: %+v", r)
		}
	})
}

// admissionSeeds are AdmissionReviews of the examples' policies and of invalid
// ones of every kind, with other operations and versions, and a few that are
// no AdmissionReview.
func admissionSeeds(f *testing.F) [][]byte {
	review := func(op string, obj []byte) []byte {
		var meta struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
			Metadata   struct {
				Name, Namespace string
			} `json:"metadata"`
		}
		if err := json.Unmarshal(obj, &meta); err != nil {
			f.Fatal(err)
		}
		group, version, _ := strings.Cut(meta.APIVersion, "/")
		resource := strings.ToLower(meta.Kind) + "s"
		switch {
		case strings.HasSuffix(meta.Kind, "ss"):
			resource = strings.ToLower(meta.Kind) + "es"
		case strings.HasSuffix(meta.Kind, "y"):
			resource = strings.ToLower(strings.TrimSuffix(meta.Kind, "y")) + "ies"
		}
		return fmt.Appendf(nil, `{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"0b4c2a6e-0000-4000-8000-%012d",`+
			`"kind":{"group":%q,"version":%q,"kind":%q},"resource":{"group":%q,"version":%q,"resource":%q},"name":%q,"namespace":%q,"operation":%q,`+
			`"userInfo":{"username":"kubernetes-admin"},"object":%s,"oldObject":null,"dryRun":false}}`,
			len(obj), group, version, meta.Kind, group, version, resource, meta.Metadata.Name, meta.Metadata.Namespace, op, obj)
	}
	var seeds [][]byte
	paths, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*", "*.yaml"))
	more, _ := filepath.Glob(filepath.Join("..", "..", "examples", "*.yaml"))
	for _, p := range append(paths, more...) {
		objs, err := k8s.DecodeYAMLFile(p)
		if err != nil {
			f.Fatal(err)
		}
		for _, o := range objs {
			if !strings.Contains(o.GetAPIVersion(), "smi-spec.io") && !strings.Contains(o.GetAPIVersion(), "openservicemesh.io") {
				continue
			}
			data, err := json.Marshal(o)
			if err != nil {
				f.Fatal(err)
			}
			seeds = append(seeds, review("CREATE", data), review("UPDATE", data))
		}
	}
	if len(seeds) == 0 {
		f.Fatal("no policy in examples/")
	}
	for _, obj := range []string{
		`{"apiVersion":"access.smi-spec.io/v1alpha3","kind":"TrafficTarget","metadata":{"name":"t","namespace":"bookbuyer"},"spec":{"destination":{"kind":"ServiceAccount","name":"bookstore","namespace":"bookstore"},"sources":[{"kind":"ServiceAccount","name":"bookbuyer"}],"rules":[{"kind":"HTTPRouteGroup","name":"r"}]}}`,
		`{"apiVersion":"specs.smi-spec.io/v1alpha4","kind":"HTTPRouteGroup","metadata":{"name":"r","namespace":"bookstore"},"spec":{"matches":[{"name":"a","pathRegex":"/[a-z]{1,500}/books","methods":["GET","*"],"headers":[{"x-id":"[0-9]{1,200}"},{"x-b":"(bad"}]},{"name":"a","pathRegex":"/books/(["}]}}`,
		`{"apiVersion":"specs.smi-spec.io/v1alpha4","kind":"TCPRoute","metadata":{"name":"db","namespace":"bookstore"},"spec":{"matches":{"name":"db","ports":[5432]}}}`,
		`{"apiVersion":"split.smi-spec.io/v1alpha2","kind":"TrafficSplit","metadata":{"name":"s","namespace":"bookstore"},"spec":{"service":"","backends":[{"service":"v1","weight":"-500m"},{"service":"v1","weight":0}]}}`,
		`{"apiVersion":"split.smi-spec.io/v1alpha2","kind":"TrafficSplit","metadata":{"name":"s","namespace":"bookstore"},"spec":{"service":"bookstore","backends":[{"service":"v1","weight":"half"}]}}`,
		`{"apiVersion":"policy.openservicemesh.io/v1alpha1","kind":"IngressBackend","metadata":{"name":"i","namespace":"bookstore"},"spec":{"backends":[{"name":"b","port":{"number":80,"protocol":"udp"},"tls":{"sniHosts":["b.example"]}}],"sources":[{"kind":"IPRange","name":"10.0.0/8"},{"kind":"Service","name":"nginx"},{"kind":"AuthenticatedPrincipal","name":"Not A Name"}]}}`,
		`{"apiVersion":"policy.openservicemesh.io/v1alpha1","kind":"Egress","metadata":{"name":"e","namespace":"bookbuyer"},"spec":{"sources":[{"kind":"ServiceAccount","name":"bookbuyer","namespace":"bookbuyer"}],"hosts":["*","*.","a.*.com","httpbin.org:443"],"ipAddresses":["203.0.113.7"],"ports":[{"number":80,"protocol":"quic"}],"matches":[{"kind":"Pod","name":"x"}]}}`,
		`{"apiVersion":"policy.openservicemesh.io/v1alpha1","kind":"UpstreamTrafficSetting","metadata":{"name":"u","namespace":"bookstore"},"spec":{"host":"bookstore.bookstore.svc.cluster.local","httpRoutes":[{"path":"/.{1,30}"},{"path":"(bad"}]}}`,
		`{"apiVersion":"policy.openservicemesh.io/v1alpha1","kind":"Retry","metadata":{"name":"r","namespace":"bookbuyer"},"spec":{"source":{"kind":"Pod","name":"bookbuyer","namespace":"bookstore"},"destinations":[{"kind":"Pod","name":"x"}],"retryPolicy":{"retryOn":"5xx","perTryTimeout":"-1s","retryBackoffBaseInterval":"0s"}}}`,
		`{"apiVersion":"config.openservicemesh.io/v1alpha2","kind":"MeshConfig","metadata":{"name":"osm-mesh-config","namespace":"osm-system"},"spec":{"certificate":{"serviceCertValidityDuration":"one day","ingressGateway":{"validityDuration":"0s","subjectAltNames":["*.x", "bad name"]}},"traffic":{"outboundIPRangeExclusionList":["nope"]}}}`,
	} {
		seeds = append(seeds, review("CREATE", []byte(obj)), review("UPDATE", []byte(obj)))
	}
	seeds = append(seeds,
		review("DELETE", []byte(`{"apiVersion":"policy.openservicemesh.io/v1alpha1","kind":"Egress","metadata":{"name":"e","namespace":"bookbuyer"}}`)),
		review("CREATE", []byte(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p","namespace":"bookbuyer"}}`)),
		[]byte(`{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"1","operation":"CREATE","kind":{"group":"policy.openservicemesh.io","kind":"Egress"},"object":"not an object"}}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"2","operation":"CREATE","kind":{"group":"specs.smi-spec.io","kind":"HTTPRouteGroup"}}}`),
		[]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`),
		[]byte(`{}`), []byte(`[]`), []byte(`null`), []byte(``),
	)
	return seeds
}

// claimedHosts is a client.Reader whose only UpstreamTrafficSettings claim
// these hosts, so that the webhook's check for a second claim runs.
type claimedHosts []string

var _ client.Reader = claimedHosts(nil)

func (claimedHosts) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return fmt.Errorf("the policy webhook gets no object")
}

func (h claimedHosts) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	l, ok := list.(*policyv1alpha1.UpstreamTrafficSettingList)
	if !ok {
		return fmt.Errorf("the policy webhook lists only UpstreamTrafficSettings, not %T", list)
	}
	for i, host := range h {
		l.Items = append(l.Items, policyv1alpha1.UpstreamTrafficSetting{
			ObjectMeta: metav1.ObjectMeta{Namespace: "bookstore", Name: fmt.Sprintf("claim-%d", i)},
			Spec:       policyv1alpha1.UpstreamTrafficSettingSpec{Host: host},
		})
	}
	return nil
}
