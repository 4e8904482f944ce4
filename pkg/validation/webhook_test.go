package validation_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/internal/testenv"
	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/validation"
)

// TestAPIServerRejectsInvalidPolicies applies invalid objects to a real API
// server serving Weft's CRDs and policy webhook, and checks the exact error a
// user sees from kubectl: schema errors from the CRDs, the rest from the webhook.
func TestAPIServerRejectsInvalidPolicies(t *testing.T) {
	env := testenv.Start(t, testenv.WithWebhooks(testenv.ValidatingWebhooks))
	env.ServeWebhooks(t, map[string]http.Handler{validation.Path: validation.NewWebhook(env.Client).HTTPHandler()})
	ctx := context.Background()
	create(t, env, `
apiVersion: v1
kind: Namespace
metadata: {name: bookstore, labels: {openservicemesh.io/monitored-by: osm}}
---
apiVersion: v1
kind: Namespace
metadata: {name: bookbuyer, labels: {openservicemesh.io/monitored-by: osm}}
---
apiVersion: v1
kind: Namespace
metadata: {name: osm-system}
---
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {name: bookstore-limits, namespace: bookstore}
spec:
  host: bookstore.bookstore.svc.cluster.local
`)

	tests := []struct {
		name    string
		yaml    string
		wantErr string
	}{
		{
			name: "a source kind outside the enum is refused by the schema",
			yaml: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: IngressBackend
metadata: {name: bad-kind, namespace: bookstore}
spec:
  backends: [{name: bookstore, port: {number: 14001, protocol: http}}]
  sources: [{kind: Pod, name: nginx}]`,
			wantErr: `IngressBackend.policy.openservicemesh.io "bad-kind" is invalid: spec.sources[0].kind: Unsupported value: "Pod": supported values: "Service", "AuthenticatedPrincipal", "IPRange"`,
		},
		{
			name: "a TrafficTarget without a destination is refused by the schema",
			yaml: `
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: no-destination, namespace: bookstore}
spec:
  sources: [{kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer}]
  rules: [{kind: HTTPRouteGroup, name: routes}]`,
			wantErr: `TrafficTarget.access.smi-spec.io "no-destination" is invalid: spec.destination: Required value`,
		},
		{
			name: "a TrafficTarget outside its destination's namespace is refused by the webhook",
			yaml: `
apiVersion: access.smi-spec.io/v1alpha3
kind: TrafficTarget
metadata: {name: wrong-namespace, namespace: bookbuyer}
spec:
  destination: {kind: ServiceAccount, name: bookstore, namespace: bookstore}
  sources: [{kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer}]
  rules: [{kind: HTTPRouteGroup, name: routes}]`,
			wantErr: `admission webhook "policy.validate.weft-mesh.io" denied the request: TrafficTarget.access.smi-spec.io "wrong-namespace" is invalid: spec.destination.namespace: Invalid value: "bookstore": must be the TrafficTarget's own namespace "bookbuyer": a TrafficTarget lives in its destination's namespace`,
		},
		{
			name: "an IPRange source that is not a CIDR is refused by the webhook",
			yaml: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: IngressBackend
metadata: {name: bad-cidr, namespace: bookstore}
spec:
  backends: [{name: bookstore, port: {number: 14001, protocol: http}}]
  sources: [{kind: IPRange, name: 10.0.0/8}]`,
			wantErr: `admission webhook "policy.validate.weft-mesh.io" denied the request: IngressBackend.policy.openservicemesh.io "bad-cidr" is invalid: spec.sources[0].name: Invalid value: "10.0.0/8": must be a CIDR such as 10.0.0.0/8`,
		},
		{
			name: "a backend protocol Weft does not speak is refused by the webhook",
			yaml: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: IngressBackend
metadata: {name: bad-protocol, namespace: bookstore}
spec:
  backends: [{name: bookstore, port: {number: 14001, protocol: udp}}]
  sources: [{kind: AuthenticatedPrincipal, name: ingress-nginx.ingress-nginx.cluster.local}]`,
			wantErr: `admission webhook "policy.validate.weft-mesh.io" denied the request: IngressBackend.policy.openservicemesh.io "bad-protocol" is invalid: spec.backends[0].port.protocol: Unsupported value: "udp": supported values: "http", "https", "tcp", "grpc"`,
		},
		{
			name: "a negative split weight is refused by the webhook",
			yaml: `
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: negative, namespace: bookstore}
spec:
  service: bookstore.bookstore
  backends: [{service: bookstore-v1, weight: -500m}, {service: bookstore-v2, weight: 500m}]`,
			wantErr: `admission webhook "policy.validate.weft-mesh.io" denied the request: TrafficSplit.split.smi-spec.io "negative" is invalid: spec.backends[0].weight: Invalid value: "-500m": must not be negative`,
		},
		{
			name: "a split weight that is not a quantity is refused by the schema",
			yaml: `
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: half, namespace: bookstore}
spec:
  service: bookstore
  backends: [{service: bookstore-v1, weight: half}]`,
			wantErr: `TrafficSplit.split.smi-spec.io "half" is invalid: spec.backends[0].weight: Invalid value: "half": spec.backends[0].weight in body should match '^(\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$'`,
		},
		{
			name: "an Egress http port with neither hosts nor IP addresses is refused by the webhook",
			yaml: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: nowhere, namespace: bookbuyer}
spec:
  sources: [{kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer}]
  ports: [{number: 80, protocol: http}]`,
			wantErr: `admission webhook "policy.validate.weft-mesh.io" denied the request: Egress.policy.openservicemesh.io "nowhere" is invalid: spec.ports[0].protocol: Invalid value: "http": an http port is matched by host: name spec.hosts or spec.ipAddresses (a tcp port admits any destination)`,
		},
		{
			name: "a path regex too large for Envoy's RE2 is refused by the webhook",
			yaml: `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: too-large, namespace: bookstore}
spec:
  matches: [{name: books, pathRegex: "/[a-z]{1,500}/books", methods: [GET]}]`,
			wantErr: `admission webhook "policy.validate.weft-mesh.io" denied the request: HTTPRouteGroup.specs.smi-spec.io "too-large" is invalid: spec.matches[0].pathRegex: Invalid value: "/[a-z]{1,500}/books": regular expression is too large for Envoy (program size 1010, limit 100)`,
		},
		{
			name: "an Egress to host * is refused by the webhook, pointing to egress passthrough",
			yaml: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: everywhere, namespace: bookbuyer}
spec:
  sources: [{kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer}]
  hosts: ["*", "a.*.com"]
  ports: [{number: 80, protocol: http}]`,
			wantErr: `admission webhook "policy.validate.weft-mesh.io" denied the request: Egress.policy.openservicemesh.io "everywhere" is invalid: [spec.hosts[0]: Invalid value: "*": a lone "*" would allow every host on these ports; to allow egress to any destination, turn on egress passthrough (MeshConfig spec.traffic.enableEgress) instead, spec.hosts[1]: Invalid value: "a.*.com": must be a host name such as httpbin.org or *.example.com: a wildcard is allowed only as a leading "*."]`,
		},
		{
			name: "a second UpstreamTrafficSetting for one host is refused by the webhook",
			yaml: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: UpstreamTrafficSetting
metadata: {name: second-claim, namespace: bookstore}
spec:
  host: bookstore.bookstore.svc.cluster.local`,
			wantErr: `admission webhook "policy.validate.weft-mesh.io" denied the request: UpstreamTrafficSetting.policy.openservicemesh.io "second-claim" is invalid: spec.host: Invalid value: "bookstore.bookstore.svc.cluster.local": already claimed by UpstreamTrafficSetting bookstore/bookstore-limits: one host takes one setting`,
		},
		{
			name: "a MeshConfig with an unparsable certificate validity is refused by the webhook",
			yaml: `
apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  certificate: {serviceCertValidityDuration: one day}`,
			wantErr: `admission webhook "meshconfig.validate.weft-mesh.io" denied the request: MeshConfig.config.openservicemesh.io "osm-mesh-config" is invalid: spec.certificate.serviceCertValidityDuration: Invalid value: "one day": must be a duration such as "24h" or "90s"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := k8s.DecodeYAML(strings.NewReader(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			err = env.Client.Create(ctx, objs[0])
			if err == nil {
				t.Fatalf("created; want the error\n%s", tt.wantErr)
			}
			if got := err.Error(); got != tt.wantErr {
				t.Errorf("error:\n got: %s\nwant: %s", got, tt.wantErr)
			}
		})
	}

	t.Run("OSM's egress demo policies, tcp-443 and a server-first port, are admitted", func(t *testing.T) {
		create(t, env, `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: Egress
metadata: {name: tcp-443, namespace: bookbuyer}
spec:
  sources: [{kind: ServiceAccount, name: bookbuyer, namespace: bookbuyer}]
  ports: [{number: 443, protocol: tcp}, {number: 3306, protocol: tcp-server-first}]`)
	})

	t.Run("a split weighted 500m/500m is stored and reads back as equal weights", func(t *testing.T) {
		create(t, env, `
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: bookstore-split, namespace: bookstore}
spec:
  service: bookstore.bookstore
  backends: [{service: bookstore-v1, weight: 500m}, {service: bookstore-v2, weight: 500m}]`)
		var ts splitv1alpha2.TrafficSplit
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "bookstore", Name: "bookstore-split"}, &ts); err != nil {
			t.Fatal(err)
		}
		b := ts.Spec.Backends
		if len(b) != 2 || b[0].Weight.String() != "500m" || b[0].Weight.Cmp(b[1].Weight) != 0 {
			t.Errorf("backends = %+v, want bookstore-v1 and bookstore-v2 at 500m each", b)
		}
	})
}

func create(t *testing.T, env *testenv.Env, yaml string) {
	t.Helper()
	objs, err := k8s.DecodeYAML(strings.NewReader(yaml))
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range objs {
		if err := env.Client.Create(context.Background(), obj); client.IgnoreAlreadyExists(err) != nil {
			t.Fatalf("creating %s %s: %v", obj.GetKind(), obj.GetName(), err)
		}
	}
}
