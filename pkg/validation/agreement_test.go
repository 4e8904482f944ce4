package validation_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/weft-mesh/weft/catalog"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
	"github.com/weft-mesh/weft/pkg/validation"
)

// agreementMesh is what the objects under test refer to: namespaces a and b in
// mesh osm, service account a/client, Service b/web (port 80 to 8080) served by
// service account b/web, TCPRoute b/db, and every policy feature on.
const agreementMesh = `
apiVersion: v1
kind: Namespace
metadata: {name: a, labels: {openservicemesh.io/monitored-by: osm}}
---
apiVersion: v1
kind: Namespace
metadata: {name: b, labels: {openservicemesh.io/monitored-by: osm}}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: client, namespace: a}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: web, namespace: b}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: b}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: v1
kind: Service
metadata: {name: web-v1, namespace: b}
spec: {selector: {app: web}, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: db, namespace: b}
spec: {matches: {name: db, ports: [5432]}}
`

const agreementMeshConfig = `
apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  featureFlags: {enableEgressPolicy: true, enableIngressBackendPolicy: true, enableRetryPolicy: true}
`

// refusal is one error as both sides give it: the field path and the message
// the webhook refuses the object with, and what the catalog skips for it.
type refusal struct{ field, message, skipped string }

// TestWebhookAndCatalogAgree feeds the same invalid objects to the webhook's
// rule entry point (Webhook.Handle, as the API server calls it) and to
// catalog.Build through the files source `weft render` reads, and checks that
// the webhook refuses each with exactly the field paths and messages of the
// problems the catalog records as it skips it (or the elements at fault).
func TestWebhookAndCatalogAgree(t *testing.T) {
	tests := []struct {
		name string
		// existing are objects already in the cluster, and older in the files.
		existing string
		object   string
		want     []refusal
		// also are the object's further problems in the catalog: what skipping
		// an element left of it.
		also []string
	}{
		{
			name: "an IngressBackend with an upper-case protocol and a bare IP source is refused and skipped",
			object: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: IngressBackend
metadata: {name: ib, namespace: b}
spec:
  backends: [{name: web, port: {number: 8080, protocol: HTTP}}]
  sources: [{kind: IPRange, name: 10.0.0.1}]`,
			want: []refusal{
				{"spec.backends[0].port.protocol", `Unsupported value: "HTTP": supported values: "http", "https", "tcp", "grpc"`, "backend skipped"},
				{"spec.sources[0].name", `Invalid value: "10.0.0.1": must be a CIDR such as 10.0.0.0/8`, "source skipped"},
			},
			also: []string{"IngressBackend b/ib: spec.sources: no valid source; IngressBackend skipped"},
		},
		{
			name: "IngressBackend sources need a Service's namespace and a principal in lower case, SNI hosts need https",
			object: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: IngressBackend
metadata: {name: ib, namespace: b}
spec:
  backends: [{name: web, port: {number: 8080, protocol: http}, tls: {sniHosts: [web.example]}}]
  sources: [{kind: Service, name: nginx}, {kind: AuthenticatedPrincipal, name: Nginx.ingress.cluster.local}, {kind: IPRange, name: 10.0.0.0/8}]`,
			want: []refusal{
				{"spec.backends[0].tls.sniHosts", `Invalid value: ["web.example"]: SNI hosts need protocol https`, "backend skipped"},
				{"spec.sources[0].namespace", "Required value: a Service source needs the namespace of the ingress controller's Service", "source skipped"},
				{"spec.sources[1].name", `Invalid value: "Nginx.ingress.cluster.local": must be a principal such as ingress-nginx.ingress-nginx.cluster.local: upper case letters: write nginx.ingress.cluster.local`, "source skipped"},
			},
		},
		{
			name: "an IngressBackend matching a kind other than HTTPRouteGroup is skipped whole: a dropped match would admit more",
			object: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: IngressBackend
metadata: {name: ib, namespace: b}
spec:
  backends: [{name: web, port: {number: 8080, protocol: http}}]
  sources: [{kind: IPRange, name: 10.0.0.0/8}]
  matches: [{kind: TCPRoute, name: db}]`,
			want: []refusal{
				{"spec.matches[0].kind", `Unsupported value: "TCPRoute": supported values: "HTTPRouteGroup"`, "IngressBackend skipped"},
			},
		},
		{
			name: "an HTTPRouteGroup match with an empty method is refused and skipped",
			object: `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: routes, namespace: b}
spec:
  matches: [{name: books, pathRegex: /books, methods: [GET, ""]}, {name: all}]`,
			want: []refusal{
				{"spec.matches[0].methods[1]", `Unsupported value: "": supported values: "*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"`, "match skipped"},
			},
		},
		{
			name: "an HTTPRouteGroup match with a method in lower case is refused and skipped, as SMI's schema refuses it",
			object: `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: routes, namespace: b}
spec:
  matches: [{name: books, methods: [get]}]`,
			want: []refusal{
				{"spec.matches[0].methods[0]", `Unsupported value: "get": supported values: "*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"`, "match skipped"},
			},
		},
		{
			name: "an HTTPRouteGroup match with an empty header name is refused and skipped",
			object: `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: routes, namespace: b}
spec:
  matches: [{name: books, headers: [{"": ".*"}]}]`,
			want: []refusal{
				{"spec.matches[0].headers", `Invalid value: "": must be an HTTP header name such as x-user or :authority: empty`, "match skipped"},
			},
		},
		{
			name: "an HTTPRouteGroup match with an empty header value is refused and skipped, not silently dropped",
			object: `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: routes, namespace: b}
spec:
  matches: [{name: books, headers: [{x-user: ""}]}, {name: books}]`,
			want: []refusal{
				{"spec.matches[0].headers[x-user]", `Required value: a regular expression for the header's value, such as ".*" for any value`, "match skipped"},
				{"spec.matches[1].name", `Duplicate value: "books"`, "match skipped"},
			},
		},
		{
			name: "a TrafficTarget source without a namespace is refused and skipped, not defaulted",
			object: `
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: t, namespace: b}
spec:
  destination: {kind: ServiceAccount, name: web, namespace: b}
  sources: [{kind: ServiceAccount, name: client}]
  rules: [{kind: TCPRoute, name: db}]`,
			want: []refusal{
				{"spec.sources[0].namespace", "Required value: a source service account needs its namespace", "source skipped"},
			},
			also: []string{"TrafficTarget b/t: spec.sources: no valid source; TrafficTarget skipped"},
		},
		{
			name: "a TCPRoute port out of range is refused and skipped",
			object: `
apiVersion: specs.smi-spec.io/v1alpha4
kind: TCPRoute
metadata: {name: pg, namespace: b}
spec: {matches: {name: pg, ports: [5432, 0]}}`,
			want: []refusal{
				{"spec.matches.ports[1]", "Invalid value: 0: must be between 1 and 65535, inclusive", "port skipped"},
			},
		},
		{
			name: "a TrafficSplit rooted in another namespace is refused and skipped",
			object: `
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: s, namespace: b}
spec:
  service: client.a
  backends: [{service: web-v1, weight: 1}]`,
			want: []refusal{
				{"spec.service", `Invalid value: "client.a": must be a service of the TrafficSplit's own namespace "b"`, "TrafficSplit skipped"},
			},
		},
		{
			name: "TrafficSplit backends above 1M or named twice are refused and skipped",
			object: `
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: s, namespace: b}
spec:
  service: web
  backends: [{service: web-v1, weight: 1}, {service: web-v1.b.svc.cluster.local, weight: 1}, {service: web, weight: 2M}]`,
			want: []refusal{
				{"spec.backends[1].service", `Duplicate value: "web-v1.b.svc.cluster.local"`, "backend skipped"},
				{"spec.backends[2].weight", `Invalid value: "2M": must be at most 1M: weights are relative, so 1 and 3 split as 1M and 3M do`, "backend skipped"},
			},
		},
		{
			name: "an Egress's bare IP, upper-case protocol and source without namespace are refused and skipped one by one",
			object: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: e, namespace: a}
spec:
  sources: [{kind: ServiceAccount, name: client, namespace: a}, {kind: ServiceAccount, name: client}]
  hosts: [httpbin.org]
  ipAddresses: [203.0.113.7, 203.0.113.0/24]
  ports: [{number: 443, protocol: HTTPS}, {number: 80, protocol: http}]`,
			want: []refusal{
				{"spec.sources[1].namespace", "Required value: a source service account needs its namespace", "source skipped"},
				{"spec.ipAddresses[0]", `Invalid value: "203.0.113.7": must be a CIDR such as 10.0.0.0/8`, "IP range skipped"},
				{"spec.ports[0].protocol", `Unsupported value: "HTTPS": supported values: "http", "https", "tcp", "tcp-server-first"`, "port skipped"},
			},
		},
		{
			name: "an Egress matching an unknown kind is skipped whole: a dropped match would allow more",
			object: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: e, namespace: a}
spec:
  sources: [{kind: ServiceAccount, name: client, namespace: a}]
  hosts: [httpbin.org]
  ports: [{number: 80, protocol: http}]
  matches: [{kind: Pod, name: x}]`,
			want: []refusal{
				{"spec.matches[0].kind", `Unsupported value: "Pod": supported values: "HTTPRouteGroup", "UpstreamTrafficSetting"`, "Egress skipped"},
			},
		},
		{
			name: "an UpstreamTrafficSetting host in upper case is refused and skipped, not lower-cased",
			object: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {name: u, namespace: b}
spec: {host: Web.b.svc.cluster.local}`,
			want: []refusal{
				{"spec.host", `Invalid value: "Web.b.svc.cluster.local": must be a service's host name such as bookstore.bookstore.svc.cluster.local`, "UpstreamTrafficSetting skipped"},
			},
		},
		{
			name: "an UpstreamTrafficSetting route without a path, or limited in an unknown unit, is refused and skipped",
			object: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {name: u, namespace: b}
spec:
  host: web.b.svc.cluster.local
  httpRoutes: [{path: "", rateLimit: {local: {requests: 1, unit: second}}}, {path: /books, rateLimit: {local: {requests: 1, unit: day}}}]`,
			want: []refusal{
				{"spec.httpRoutes[0].path", "Required value: a regular expression for the request path, such as /books/.*", "route skipped"},
				{"spec.httpRoutes[1].rateLimit.local.unit", `Unsupported value: "day": supported values: "second", "minute", "hour"`, "route skipped"},
			},
		},
		{
			name: "a second UpstreamTrafficSetting for a service is refused, and skipped for the older one",
			existing: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {name: first, namespace: b, creationTimestamp: "2024-01-01T00:00:00Z"}
spec: {host: web.b.svc.cluster.local}`,
			object: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {name: second, namespace: b, creationTimestamp: "2024-01-02T00:00:00Z"}
spec: {host: web.b}`,
			want: []refusal{
				{"spec.host", `Invalid value: "web.b": already claimed by UpstreamTrafficSetting b/first: one host takes one setting`, "UpstreamTrafficSetting skipped"},
			},
		},
		{
			name: "a Retry with a zero per-try timeout is refused and skipped",
			object: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Retry
metadata: {name: r, namespace: a}
spec:
  source: {kind: ServiceAccount, name: client, namespace: a}
  destinations: [{kind: Service, name: web, namespace: b}]
  retryPolicy: {retryOn: 5xx, perTryTimeout: 0s}`,
			want: []refusal{
				{"spec.retryPolicy.perTryTimeout", `Invalid value: "0s": must be positive`, "Retry skipped"},
			},
		},
		{
			name: "a Retry destination without a namespace is refused and skipped, not defaulted",
			object: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Retry
metadata: {name: r, namespace: a}
spec:
  source: {kind: ServiceAccount, name: client, namespace: a}
  destinations: [{kind: Service, name: web, namespace: b}, {kind: Service, name: web}]
  retryPolicy: {retryOn: 5xx, retryBackoffBaseInterval: 10ms}`,
			want: []refusal{
				{"spec.destinations[1].namespace", "Required value: a destination service needs its namespace", "destination skipped"},
			},
		},
		{
			name: "a MeshConfig TLS version Envoy does not name is refused, and ignored",
			object: `
apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  sidecar: {tlsMinProtocolVersion: TLSv1.2}`,
			want: []refusal{
				{"spec.sidecar.tlsMinProtocolVersion", `Unsupported value: "TLSv1.2": supported values: "TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3"`, "setting ignored"},
			},
		},
		{
			name: "a control plane log level OSM does not name is refused, and ignored",
			object: `
apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  observability: {osmLogLevel: verbose}`,
			want: []refusal{
				{"spec.observability.osmLogLevel", `Unsupported value: "verbose": supported values: "trace", "debug", "info", "warn", "error", "fatal", "panic", "disabled"`, "setting ignored"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := decodeOne(t, tt.object)
			var existing []policyv1alpha1.UpstreamTrafficSetting
			if tt.existing != "" {
				var u policyv1alpha1.UpstreamTrafficSetting
				if err := runtime.DefaultUnstructuredConverter.FromUnstructured(decodeOne(t, tt.existing).Object, &u); err != nil {
					t.Fatal(err)
				}
				existing = append(existing, u)
			}

			var webhook []string
			for _, c := range refusedBy(t, validation.NewWebhook(listed(existing)), obj) {
				webhook = append(webhook, c.Field+": "+c.Message)
			}

			docs := []string{agreementMesh, tt.existing, tt.object}
			if obj.GetKind() != "MeshConfig" {
				docs = append(docs, agreementMeshConfig)
			}
			model := catalog.Build(loadFiles(t, docs...), mesh.Defaults())
			var skips, also []string
			for _, p := range model.ProblemsFor(catalog.ObjectRef{Kind: obj.GetKind(), Namespace: obj.GetNamespace(), Name: obj.GetName()}) {
				if p.Skipped == "" {
					also = append(also, p.String())
					continue
				}
				skips = append(skips, p.Field+": "+p.Reason+" ("+p.Skipped+")")
			}

			var want, wantSkips []string
			for _, r := range tt.want {
				want = append(want, r.field+": "+r.message)
				wantSkips = append(wantSkips, r.field+": "+r.message+" ("+r.skipped+")")
			}
			if !slices.Equal(webhook, want) {
				t.Errorf("the webhook refuses with:\n  %s\nwant:\n  %s", strings.Join(webhook, "\n  "), strings.Join(want, "\n  "))
			}
			if !slices.Equal(skips, wantSkips) {
				t.Errorf("the catalog skips with:\n  %s\nwant:\n  %s", strings.Join(skips, "\n  "), strings.Join(wantSkips, "\n  "))
			}
			if !slices.Equal(also, tt.also) {
				t.Errorf("the catalog's other problems of the object:\n  %s\nwant:\n  %s", strings.Join(also, "\n  "), strings.Join(tt.also, "\n  "))
			}
		})
	}
}

// refusedBy asks the webhook about obj as the API server would on its
// creation, and returns the causes of the refusal (none if it is allowed).
func refusedBy(t *testing.T, w *validation.Webhook, obj client.Object) []metav1.StatusCause {
	t.Helper()
	raw, err := json.Marshal(obj)
	if err != nil {
		t.Fatal(err)
	}
	gvk := obj.GetObjectKind().GroupVersionKind()
	resp := w.Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       "agreement",
		Kind:      metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
		Name:      obj.GetName(),
		Namespace: obj.GetNamespace(),
		Operation: admissionv1.Create,
		Object:    runtime.RawExtension{Raw: raw},
	}})
	switch {
	case resp.Allowed:
		return nil
	case resp.Result == nil || resp.Result.Details == nil:
		t.Fatalf("refused without causes: %+v", resp.Result)
	}
	return resp.Result.Details.Causes
}

func decodeOne(t *testing.T, yaml string) *unstructured.Unstructured {
	t.Helper()
	objs, err := k8s.DecodeYAML(strings.NewReader(yaml))
	if err != nil || len(objs) != 1 {
		t.Fatalf("decoding %s: %d objects, %v", yaml, len(objs), err)
	}
	return objs[0]
}

// loadFiles writes the documents to files of a folder and reads them back
// with the files source, as `weft render -f <folder>` does.
func loadFiles(t *testing.T, docs ...string) *k8s.State {
	t.Helper()
	dir := t.TempDir()
	for i, doc := range docs {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%02d.yaml", i)), []byte(doc), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s, err := (&k8s.FilesSource{Paths: []string{dir}, Options: k8s.DefaultOptions()}).Load()
	if err != nil {
		t.Fatal(err)
	}
	if len(s.Rejected) > 0 {
		t.Fatalf("files not read: %+v", s.Rejected)
	}
	return s
}

// listed is a client.Reader whose UpstreamTrafficSettings are these, for the
// webhook's check of a second claim on a host.
type listed []policyv1alpha1.UpstreamTrafficSetting

var _ client.Reader = listed(nil)

func (listed) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return fmt.Errorf("the policy webhook gets no object")
}

func (l listed) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	uts, ok := list.(*policyv1alpha1.UpstreamTrafficSettingList)
	if !ok {
		return fmt.Errorf("the policy webhook lists only UpstreamTrafficSettings, not %T", list)
	}
	uts.Items = append(uts.Items, l...)
	return nil
}
