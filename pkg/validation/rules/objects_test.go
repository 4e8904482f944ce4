package rules

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
)

// The agreement test (pkg/validation/agreement_test.go) shows that the webhook
// and the catalog say the same; the API-server test (webhook_test.go) shows the
// messages users see. These cover the rules one by one.
func TestObjectRules(t *testing.T) {
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
			name: "HTTPRouteGroup methods are those of SMI's schema, as written there",
			errs: HTTPRouteGroup(&smispecs.HTTPRouteGroup{Spec: smispecs.HTTPRouteGroupSpec{Matches: []smispecs.HTTPMatch{{Name: "a", Methods: []string{"GET", "post", "PROPFIND", ""}}}}}),
			want: `spec.matches[0].methods[1]: Unsupported value: "post": supported values: "*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", ` +
				`spec.matches[0].methods[2]: Unsupported value: "PROPFIND": supported values: "*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH", ` +
				`spec.matches[0].methods[3]: Unsupported value: "": supported values: "*", "GET", "HEAD", "PUT", "POST", "DELETE", "CONNECT", "OPTIONS", "TRACE", "PATCH"`,
		},
		{
			name: "HTTPRouteGroup methods and paths within Envoy's limit are fine",
			errs: HTTPRouteGroup(&smispecs.HTTPRouteGroup{Spec: smispecs.HTTPRouteGroupSpec{Matches: []smispecs.HTTPMatch{{Name: "a", PathRegex: "/books/[0-9]+",
				Methods: []string{"GET", "POST", "*"}, Headers: map[string]string{"user-agent": ".*Mozilla.*", ":authority": "bookstore.*"}}}}}),
		},
		{
			name: "an HTTPRouteGroup header needs a name and a value",
			errs: HTTPRouteGroup(&smispecs.HTTPRouteGroup{Spec: smispecs.HTTPRouteGroupSpec{Matches: []smispecs.HTTPMatch{{Name: "a", Headers: map[string]string{"": "x", "x-id": "", "x id": ".*"}}}}}),
			want: `spec.matches[0].headers: Invalid value: "": must be an HTTP header name such as x-user or :authority: empty, ` +
				`spec.matches[0].headers: Invalid value: "x id": must be an HTTP header name such as x-user or :authority: ' ' is not allowed, ` +
				`spec.matches[0].headers[x-id]: Required value: a regular expression for the header's value, such as ".*" for any value`,
		},
		{
			name: "an HTTPRouteGroup match needs a name",
			errs: HTTPRouteGroup(&smispecs.HTTPRouteGroup{Spec: smispecs.HTTPRouteGroupSpec{Matches: []smispecs.HTTPMatch{{PathRegex: "/"}}}}),
			want: `spec.matches[0].name: Required value: name the match: TrafficTarget rules refer to it by name`,
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
			errs: TrafficSplit(&splitv1alpha2.TrafficSplit{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "bookstore"}, Spec: splitv1alpha2.TrafficSplitSpec{Service: "bookstore", Backends: []splitv1alpha2.TrafficSplitBackend{{Service: "v1"}, {Service: "v2"}}}}),
			want: "at least one backend needs a positive weight",
		},
		{
			name: "a split backend appears once",
			errs: TrafficSplit(&splitv1alpha2.TrafficSplit{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "bookstore"}, Spec: splitv1alpha2.TrafficSplitSpec{Service: "bookstore", Backends: []splitv1alpha2.TrafficSplitBackend{
				{Service: "v1", Weight: resource.MustParse("1")}, {Service: "v1", Weight: resource.MustParse("1")}}}}),
			want: `spec.backends[1].service: Duplicate value: "v1"`,
		},
		{
			name: "integer and quantity weights are both fine",
			errs: TrafficSplit(&splitv1alpha2.TrafficSplit{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "bookstore"}, Spec: splitv1alpha2.TrafficSplitSpec{Service: "bookstore", Backends: []splitv1alpha2.TrafficSplitBackend{
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
			name: "a TrafficTarget's subjects are service accounts, each source with its namespace, and its rules are routes",
			errs: TrafficTarget(&smiaccess.TrafficTarget{ObjectMeta: metav1.ObjectMeta{Name: "t", Namespace: "bookstore"}, Spec: smiaccess.TrafficTargetSpec{
				Destination: smiaccess.IdentityBindingSubject{Kind: "Group", Name: "bookstore"},
				Sources:     []smiaccess.IdentityBindingSubject{{Kind: "ServiceAccount", Name: "bookbuyer"}},
				Rules:       []smiaccess.TrafficTargetRule{{Kind: "UDPRoute", Name: "r"}},
			}}),
			want: `[spec.destination.kind: Unsupported value: "Group": supported values: "ServiceAccount", ` +
				`spec.sources[0].namespace: Required value: a source service account needs its namespace, ` +
				`spec.rules[0].kind: Unsupported value: "UDPRoute": supported values: "HTTPRouteGroup", "TCPRoute"]`,
		},
		{
			name: "TCPRoute ports are ports",
			errs: TCPRoute(&smispecs.TCPRoute{Spec: smispecs.TCPRouteSpec{Matches: smispecs.TCPMatch{Ports: []int{5432, 0, 65536}}}}),
			want: `[spec.matches.ports[1]: Invalid value: 0: must be between 1 and 65535, inclusive, spec.matches.ports[2]: Invalid value: 65536: must be between 1 and 65535, inclusive]`,
		},
		{
			name: "a split's root and backends are services of its namespace, named once however written",
			errs: TrafficSplit(&splitv1alpha2.TrafficSplit{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "bookstore"}, Spec: splitv1alpha2.TrafficSplitSpec{
				Service: "bookstore.other", Backends: []splitv1alpha2.TrafficSplitBackend{
					{Service: "v1", Weight: resource.MustParse("1")}, {Service: "v1.bookstore.svc.cluster.local", Weight: resource.MustParse("1")},
					{Service: "a.b.c.d", Weight: resource.MustParse("1")}}}}),
			want: `[spec.service: Invalid value: "bookstore.other": must be a service of the TrafficSplit's own namespace "bookstore", ` +
				`spec.backends[1].service: Duplicate value: "v1.bookstore.svc.cluster.local", ` +
				`spec.backends[2].service: Invalid value: "a.b.c.d": must be a service name such as bookstore, bookstore.bookstore or bookstore.bookstore.svc.cluster.local]`,
		},
		{
			name: "a split weight above 1M is refused, and zero weights left by it too",
			errs: TrafficSplit(&splitv1alpha2.TrafficSplit{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "bookstore"}, Spec: splitv1alpha2.TrafficSplitSpec{
				Service: "bookstore", Backends: []splitv1alpha2.TrafficSplitBackend{{Service: "v1", Weight: resource.MustParse("2M")}, {Service: "v2"}}}}),
			want: `[spec.backends[0].weight: Invalid value: "2M": must be at most 1M: weights are relative, so 1 and 3 split as 1M and 3M do, ` +
				`spec.backends: Invalid value: 2: at least one backend needs a positive weight]`,
		},
		{
			name: "an IngressBackend port speaks a protocol in lower case, SNI hosts are server names, a source IP range has its prefix length",
			errs: IngressBackend(&policyv1alpha1.IngressBackend{ObjectMeta: meta, Spec: policyv1alpha1.IngressBackendSpec{
				Backends: []policyv1alpha1.BackendSpec{{Name: "b", Port: policyv1alpha1.PortSpec{Number: 80, Protocol: "HTTPS"}},
					{Name: "c", Port: policyv1alpha1.PortSpec{Number: 443, Protocol: "https"}, TLS: policyv1alpha1.TLSSpec{SNIHosts: []string{"*.b.example", "a.*.example"}}}},
				Sources: []policyv1alpha1.IngressSourceSpec{{Kind: "IPRange", Name: "10.0.0.1"}, {Kind: "AuthenticatedPrincipal", Name: "Nginx.ingress.cluster.local"}, {Kind: "Pod", Name: "nginx"}},
				Matches: []corev1.TypedLocalObjectReference{{Kind: "UpstreamTrafficSetting", Name: "u"}},
			}}),
			want: `[spec.backends[0].port.protocol: Unsupported value: "HTTPS": supported values: "http", "https", "tcp", "grpc", ` +
				`spec.backends[1].tls.sniHosts[1]: Invalid value: "a.*.example": must be a server name such as bookstore.example.com or *.example.com: a wildcard is allowed only as a leading "*.", ` +
				`spec.sources[0].name: Invalid value: "10.0.0.1": must be a CIDR such as 10.0.0.0/8, ` +
				`spec.sources[1].name: Invalid value: "Nginx.ingress.cluster.local": must be a principal such as ingress-nginx.ingress-nginx.cluster.local: upper case letters: write nginx.ingress.cluster.local, ` +
				`spec.sources[2].kind: Unsupported value: "Pod": supported values: "Service", "AuthenticatedPrincipal", "IPRange", ` +
				`spec.matches[0].kind: Unsupported value: "UpstreamTrafficSetting": supported values: "HTTPRouteGroup"]`,
		},
		{
			name: "Egress sources name their namespace, ports are ports with a protocol in lower case",
			errs: Egress(&policyv1alpha1.Egress{ObjectMeta: meta, Spec: policyv1alpha1.EgressSpec{
				Sources: []policyv1alpha1.EgressSourceSpec{{Kind: "ServiceAccount", Name: "bookbuyer"}},
				Hosts:   []string{"httpbin.org"}, Ports: []policyv1alpha1.PortSpec{{Number: 0, Protocol: "HTTP"}},
			}}),
			want: `[spec.sources[0].namespace: Required value: a source service account needs its namespace, ` +
				`spec.ports[0].number: Invalid value: 0: must be between 1 and 65535, inclusive, ` +
				`spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "http", "https", "tcp", "tcp-server-first"]`,
		},
		{
			name: "an Egress without hosts or IP ranges admits any destination on tcp, tcp-server-first and https ports, as in OSM",
			errs: Egress(&policyv1alpha1.Egress{ObjectMeta: meta, Spec: policyv1alpha1.EgressSpec{
				Sources: []policyv1alpha1.EgressSourceSpec{{Kind: "ServiceAccount", Name: "bookbuyer", Namespace: "bookbuyer"}},
				Ports:   []policyv1alpha1.PortSpec{{Number: 443, Protocol: "tcp"}, {Number: 3306, Protocol: "tcp-server-first"}, {Number: 8443, Protocol: "https"}},
			}}),
		},
		{
			name: "an Egress http port needs hosts or IP ranges to match by",
			errs: Egress(&policyv1alpha1.Egress{ObjectMeta: meta, Spec: policyv1alpha1.EgressSpec{
				Sources: []policyv1alpha1.EgressSourceSpec{{Kind: "ServiceAccount", Name: "bookbuyer", Namespace: "bookbuyer"}},
				Ports:   []policyv1alpha1.PortSpec{{Number: 443, Protocol: "tcp"}, {Number: 80, Protocol: "http"}},
			}}),
			want: `spec.ports[1].protocol: Invalid value: "http": an http port is matched by host: name spec.hosts or spec.ipAddresses (a tcp port admits any destination)`,
		},
		{
			name: "an UpstreamTrafficSetting's host is in lower case, its routes have paths and its rate limits known units",
			errs: UpstreamTrafficSetting(&policyv1alpha1.UpstreamTrafficSetting{ObjectMeta: meta, Spec: policyv1alpha1.UpstreamTrafficSettingSpec{
				Host: "Bookstore.bookstore.svc.cluster.local",
				RateLimit: &policyv1alpha1.RateLimitSpec{Local: &policyv1alpha1.LocalRateLimitSpec{
					TCP:  &policyv1alpha1.TCPLocalRateLimitSpec{Connections: 10, Unit: "day"},
					HTTP: &policyv1alpha1.HTTPLocalRateLimitSpec{Requests: 10, Unit: "second", ResponseStatusCode: 42, ResponseHeadersToAdd: []policyv1alpha1.HTTPHeaderValue{{Name: ":status", Value: "x"}}},
				}},
				HTTPRoutes: []policyv1alpha1.HTTPRouteSpec{{Path: ""}},
			}}),
			want: `[spec.host: Invalid value: "Bookstore.bookstore.svc.cluster.local": must be a service's host name such as bookstore.bookstore.svc.cluster.local, ` +
				`spec.rateLimit.local.tcp.unit: Unsupported value: "day": supported values: "second", "minute", "hour", ` +
				`spec.rateLimit.local.http.responseStatusCode: Invalid value: 42: must be an HTTP status code from 100 to 599, ` +
				`spec.rateLimit.local.http.responseHeadersToAdd[0].name: Invalid value: ":status": must be an HTTP header name such as x-user: ':' is not allowed, ` +
				`spec.httpRoutes[0].path: Required value: a regular expression for the request path, such as /books/.*]`,
		},
		{
			name: "a Retry needs conditions, destination namespaces, and a backoff Envoy can express",
			errs: Retry(&policyv1alpha1.Retry{ObjectMeta: meta, Spec: policyv1alpha1.RetrySpec{
				Source:       policyv1alpha1.RetrySrcDstSpec{Kind: "ServiceAccount", Name: "bookbuyer", Namespace: "bookbuyer"},
				Destinations: []policyv1alpha1.RetrySrcDstSpec{{Kind: "Service", Name: "bookstore"}},
				RetryPolicy:  policyv1alpha1.RetryPolicySpec{RetryOn: " ", RetryBackoffBaseInterval: &metav1.Duration{Duration: 500 * time.Microsecond}},
			}}),
			want: `[spec.destinations[0].namespace: Required value: a destination service needs its namespace, ` +
				`spec.retryPolicy.retryOn: Required value: the conditions to retry on, such as "5xx,reset", ` +
				`spec.retryPolicy.retryBackoffBaseInterval: Invalid value: "500µs": must be at least 1ms]`,
		},
		{
			name: "a MeshConfig's TLS versions are Envoy's names",
			errs: MeshConfig(&configv1alpha2.MeshConfig{Spec: configv1alpha2.MeshConfigSpec{Sidecar: configv1alpha2.SidecarSpec{TLSMinProtocolVersion: "TLSv1_2", TLSMaxProtocolVersion: "1.3"}}}),
			want: `spec.sidecar.tlsMaxProtocolVersion: Unsupported value: "1.3": supported values: "TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3"`,
		},
		{
			name: "a MeshConfig's exclusion ranges are CIDRs",
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

// SMI's methods are few enough that the one regular expression the generator
// matches them with always fits Envoy's limit.
func TestEveryMethodFitsOneRegex(t *testing.T) {
	if err := EnvoyRegex(MethodsRegex(HTTPMethods[1:])); err != nil {
		t.Errorf("the methods' regular expression: %v", err)
	}
}

func TestServerName(t *testing.T) {
	for _, host := range []string{"bookstore.example.com", "*.example.com", "Bookstore.Example.com"} {
		if err := ServerName(host); err != nil {
			t.Errorf("ServerName(%q) = %v, want nil", host, err)
		}
	}
	for host, want := range map[string]string{"": "must be a server name", "*": `a wildcard is allowed only as a leading "*."`, "a.*.com": "a wildcard"} {
		if err := ServerName(host); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ServerName(%q) = %v, want an error containing %q", host, err, want)
		}
	}
}
