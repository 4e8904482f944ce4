package validation

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
)

// The API-server test (webhook_test.go) shows the messages users see; these
// cover the rules it does not reach.
func TestRules(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "x", Namespace: "bookbuyer"}
	tests := []struct {
		name string
		errs field.ErrorList
		want string // substring of the joined errors; "" means valid
	}{
		{
			name: "an HTTPRouteGroup path regex must compile",
			errs: HTTPRouteGroup(&smispecs.HTTPRouteGroup{Spec: smispecs.HTTPRouteGroupSpec{Matches: []smispecs.HTTPMatch{{Name: "a", PathRegex: "/books/(["}}}}),
			want: `spec.matches[0].pathRegex: Invalid value: "/books/([": not a regular expression`,
		},
		{
			name: "an HTTPRouteGroup path regex too large for Envoy's RE2 is refused",
			errs: HTTPRouteGroup(&smispecs.HTTPRouteGroup{Spec: smispecs.HTTPRouteGroupSpec{Matches: []smispecs.HTTPMatch{{Name: "a", PathRegex: "/[a-z]{1,500}/books"}}}}),
			want: `spec.matches[0].pathRegex: Invalid value: "/[a-z]{1,500}/books": regular expression is too large for Envoy (program size 1010, limit 100)`,
		},
		{
			name: "an HTTPRouteGroup header regex too large for Envoy's RE2 is refused",
			errs: HTTPRouteGroup(&smispecs.HTTPRouteGroup{Spec: smispecs.HTTPRouteGroupSpec{Matches: []smispecs.HTTPMatch{{Name: "a", Headers: map[string]string{"x-id": "[0-9]{1,200}"}}}}}),
			want: `spec.matches[0].headers[x-id]: Invalid value: "[0-9]{1,200}": regular expression is too large for Envoy (program size 403, limit 100)`,
		},
		{
			name: "HTTPRouteGroup methods Envoy cannot match in one regular expression are refused",
			errs: HTTPRouteGroup(&smispecs.HTTPRouteGroup{Spec: smispecs.HTTPRouteGroupSpec{Matches: []smispecs.HTTPMatch{{Name: "a", Methods: []string{
				"PROPFIND", "PROPPATCH", "MKCOL", "COPY", "MOVE", "LOCK", "UNLOCK", "SEARCH", "REPORT", "CHECKOUT", "MERGE", "MKACTIVITY", "BASELINE-CONTROL", "VERSION-CONTROL"}}}}}),
			want: `spec.matches[0].methods: Invalid value: "BASELINE-CONTROL|CHECKOUT|COPY|LOCK|MERGE|MKACTIVITY|MKCOL|MOVE|PROPFIND|PROPPATCH|REPORT|SEARCH|UNLOCK|VERSION-CONTROL": regular expression is too large for Envoy`,
		},
		{
			name: "HTTPRouteGroup methods and paths within Envoy's limit are fine",
			errs: HTTPRouteGroup(&smispecs.HTTPRouteGroup{Spec: smispecs.HTTPRouteGroupSpec{Matches: []smispecs.HTTPMatch{{Name: "a", PathRegex: "/books/[0-9]+",
				Methods: []string{"GET", "post", "*"}, Headers: map[string]string{"user-agent": ".*Mozilla.*"}}}}}),
		},
		{
			name: "an UpstreamTrafficSetting path too large for Envoy's RE2 is refused",
			errs: UpstreamTrafficSetting(&policyv1alpha1.UpstreamTrafficSetting{ObjectMeta: meta, Spec: policyv1alpha1.UpstreamTrafficSettingSpec{
				Host: "bookstore.bookstore.svc.cluster.local", HTTPRoutes: []policyv1alpha1.HTTPRouteSpec{{Path: "/books"}, {Path: "/.{1,30}"}}}}),
			want: `spec.httpRoutes[1].path: Invalid value: "/.{1,30}": regular expression is too large for Envoy (program size 274, limit 100)`,
		},
		{
			name: "HTTPRouteGroup match names are unique",
			errs: HTTPRouteGroup(&smispecs.HTTPRouteGroup{Spec: smispecs.HTTPRouteGroupSpec{Matches: []smispecs.HTTPMatch{{Name: "a"}, {Name: "a"}}}}),
			want: `spec.matches[1].name: Duplicate value: "a"`,
		},
		{
			name: "a split whose weights are all zero sends traffic nowhere",
			errs: TrafficSplit(&splitv1alpha2.TrafficSplit{Spec: splitv1alpha2.TrafficSplitSpec{Service: "bookstore", Backends: []splitv1alpha2.TrafficSplitBackend{{Service: "v1"}, {Service: "v2"}}}}),
			want: "at least one backend needs a positive weight",
		},
		{
			name: "a split backend appears once",
			errs: TrafficSplit(&splitv1alpha2.TrafficSplit{Spec: splitv1alpha2.TrafficSplitSpec{Service: "bookstore", Backends: []splitv1alpha2.TrafficSplitBackend{
				{Service: "v1", Weight: resource.MustParse("1")}, {Service: "v1", Weight: resource.MustParse("1")}}}}),
			want: `spec.backends[1].service: Duplicate value: "v1"`,
		},
		{
			name: "integer and quantity weights are both fine",
			errs: TrafficSplit(&splitv1alpha2.TrafficSplit{Spec: splitv1alpha2.TrafficSplitSpec{Service: "bookstore", Backends: []splitv1alpha2.TrafficSplitBackend{
				{Service: "v1", Weight: resource.MustParse("50")}, {Service: "v2", Weight: resource.MustParse("500m")}}}}),
		},
		{
			name: "a Retry lives in its source's namespace",
			errs: Retry(&policyv1alpha1.Retry{ObjectMeta: meta, Spec: policyv1alpha1.RetrySpec{
				Source:       policyv1alpha1.RetrySrcDstSpec{Kind: "ServiceAccount", Name: "bookbuyer", Namespace: "bookstore"},
				Destinations: []policyv1alpha1.RetrySrcDstSpec{{Kind: "Service", Name: "bookstore", Namespace: "bookstore"}},
			}}),
			want: `spec.source.namespace: Invalid value: "bookstore": must be the Retry's own namespace "bookbuyer"`,
		},
		{
			name: "a Retry's per-try timeout is positive",
			errs: Retry(&policyv1alpha1.Retry{ObjectMeta: meta, Spec: policyv1alpha1.RetrySpec{
				Source:      policyv1alpha1.RetrySrcDstSpec{Kind: "ServiceAccount", Name: "bookbuyer", Namespace: "bookbuyer"},
				RetryPolicy: policyv1alpha1.RetryPolicySpec{RetryOn: "5xx", PerTryTimeout: &metav1.Duration{Duration: -time.Second}},
			}}),
			want: "spec.retryPolicy.perTryTimeout",
		},
		{
			name: "Egress hosts may be wildcards but not URLs",
			errs: Egress(&policyv1alpha1.Egress{ObjectMeta: meta, Spec: policyv1alpha1.EgressSpec{
				Hosts: []string{"*.example.com", "https://httpbin.org"},
				Ports: []policyv1alpha1.PortSpec{{Number: 443, Protocol: "https"}},
			}}),
			want: `spec.hosts[1]: Invalid value: "https://httpbin.org"`,
		},
		{
			name: "an Egress host of a lone star is refused, pointing to egress passthrough",
			errs: Egress(&policyv1alpha1.Egress{ObjectMeta: meta, Spec: policyv1alpha1.EgressSpec{
				Hosts: []string{"*"}, Ports: []policyv1alpha1.PortSpec{{Number: 80, Protocol: "http"}},
			}}),
			want: `spec.hosts[0]: Invalid value: "*": a lone "*" would allow every host on these ports; to allow egress to any destination, turn on egress passthrough (MeshConfig spec.traffic.enableEgress) instead`,
		},
		{
			name: "an Egress host label longer than DNS allows is refused",
			errs: Egress(&policyv1alpha1.Egress{ObjectMeta: meta, Spec: policyv1alpha1.EgressSpec{
				Hosts: []string{strings.Repeat("a", 64) + ".com"}, Ports: []policyv1alpha1.PortSpec{{Number: 80, Protocol: "http"}},
			}}),
			want: `is longer than 63 characters`,
		},
		{
			name: "malformed Egress wildcards are refused, each with its reason",
			errs: Egress(&policyv1alpha1.Egress{ObjectMeta: meta, Spec: policyv1alpha1.EgressSpec{
				Hosts: []string{"*.", "a.*.com", "*x.com"}, Ports: []policyv1alpha1.PortSpec{{Number: 80, Protocol: "http"}},
			}}),
			want: `spec.hosts[0]: Invalid value: "*.": must be a host name such as httpbin.org or *.example.com: nothing follows the wildcard, ` +
				`spec.hosts[1]: Invalid value: "a.*.com": must be a host name such as httpbin.org or *.example.com: a wildcard is allowed only as a leading "*.", ` +
				`spec.hosts[2]: Invalid value: "*x.com": must be a host name such as httpbin.org or *.example.com: a wildcard is allowed only as a leading "*."`,
		},
		{
			name: "Egress hosts are names in any case, under a leading wildcard or not",
			errs: Egress(&policyv1alpha1.Egress{ObjectMeta: meta, Spec: policyv1alpha1.EgressSpec{
				Sources: []policyv1alpha1.EgressSourceSpec{{Kind: "ServiceAccount", Name: "bookbuyer", Namespace: "bookbuyer"}},
				Hosts:   []string{"HTTPbin.org", "*.Example.com", "localhost"}, Ports: []policyv1alpha1.PortSpec{{Number: 80, Protocol: "http"}},
			}}),
		},
		{
			name: "Egress IP addresses are CIDRs",
			errs: Egress(&policyv1alpha1.Egress{ObjectMeta: meta, Spec: policyv1alpha1.EgressSpec{
				IPAddresses: []string{"203.0.113.0/24", "203.0.113.7"},
				Ports:       []policyv1alpha1.PortSpec{{Number: 5432, Protocol: "tcp"}},
			}}),
			want: `spec.ipAddresses[1]: Invalid value: "203.0.113.7": must be a CIDR`,
		},
		{
			name: "SNI hosts need https",
			errs: IngressBackend(&policyv1alpha1.IngressBackend{ObjectMeta: meta, Spec: policyv1alpha1.IngressBackendSpec{
				Backends: []policyv1alpha1.BackendSpec{{Name: "b", Port: policyv1alpha1.PortSpec{Number: 80, Protocol: "http"}, TLS: policyv1alpha1.TLSSpec{SNIHosts: []string{"b.example"}}}},
			}}),
			want: "spec.backends[0].tls.sniHosts",
		},
		{
			name: "a Service source names its namespace",
			errs: IngressBackend(&policyv1alpha1.IngressBackend{ObjectMeta: meta, Spec: policyv1alpha1.IngressBackendSpec{
				Sources: []policyv1alpha1.IngressSourceSpec{{Kind: "Service", Name: "ingress-nginx-controller"}},
			}}),
			want: "spec.sources[0].namespace: Required value",
		},
		{
			name: "the ingress gateway certificate needs a Secret name and a positive validity",
			errs: MeshConfig(&configv1alpha2.MeshConfig{Spec: configv1alpha2.MeshConfigSpec{Certificate: configv1alpha2.CertificateSpec{
				IngressGateway: &configv1alpha2.IngressGatewayCertSpec{SubjectAltNames: []string{"ingress-nginx.ingress-nginx.cluster.local"}, ValidityDuration: "0s"},
			}}}),
			want: `spec.certificate.ingressGateway.validityDuration: Invalid value: "0s": must be positive, spec.certificate.ingressGateway.secret.name: Required value`,
		},
		{
			name: "MeshConfig exclusion ranges are CIDRs",
			errs: MeshConfig(&configv1alpha2.MeshConfig{Spec: configv1alpha2.MeshConfigSpec{Traffic: configv1alpha2.TrafficSpec{OutboundIPRangeExclusionList: []string{"10.0.0.0/8", "nope"}}}}),
			want: `spec.traffic.outboundIPRangeExclusionList[1]: Invalid value: "nope"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.errs.ToAggregate()
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("want valid, got %v", got)
			case tt.want != "" && (got == nil || !strings.Contains(got.Error(), tt.want)):
				t.Errorf("errors = %v, want one containing %q", got, tt.want)
			}
		})
	}
}
