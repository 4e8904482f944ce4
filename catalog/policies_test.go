package catalog_test

import (
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/mesh"
)

const nginx = `
apiVersion: v1
kind: Namespace
metadata: {name: ingress-nginx}
---
apiVersion: v1
kind: Service
metadata: {name: nginx, namespace: ingress-nginx}
spec: {ports: [{name: https, port: 443}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: {name: nginx-1, namespace: ingress-nginx, labels: {kubernetes.io/service-name: nginx}}
addressType: IPv4
ports: [{name: https, port: 443}]
endpoints: [{addresses: [10.1.0.7]}, {addresses: [10.1.0.8]}]
`

func ingressBackend(name, backends, sources string) string {
	return `{apiVersion: policy.openservicemesh.io/v1alpha1, kind: IngressBackend, metadata: {name: ` + name + `, namespace: b},
  spec: {backends: ` + backends + `, sources: ` + sources + `}}`
}

func TestIngressBackends(t *testing.T) {
	apps := app("b", "web", "[{name: http, port: 80, targetPort: 8080}]")
	t.Run("sources resolve to endpoint addresses, principals and CIDRs", func(t *testing.T) {
		m := build(t, apps, nginx, ingressBackend("ib",
			"[{name: web, port: {number: 8080, protocol: https}, tls: {skipClientCertValidation: true, sniHosts: [web.example]}}]",
			"[{kind: Service, name: nginx, namespace: ingress-nginx}, {kind: AuthenticatedPrincipal, name: nginx.ingress-nginx.cluster.local}, {kind: IPRange, name: 192.168.0.0/16}]"))
		checkProblems(t, m, nil)
		if len(m.IngressRules) != 1 {
			t.Fatalf("rules: %+v", m.IngressRules)
		}
		r := m.IngressRules[0]
		want := []netip.Prefix{netip.MustParsePrefix("10.1.0.7/32"), netip.MustParsePrefix("10.1.0.8/32"), netip.MustParsePrefix("192.168.0.0/16")}
		if !slices.Equal(r.SourceIPRanges, want) || r.Port.Port != 80 || r.Protocol != "https" || !r.SkipClientCertValidation ||
			!slices.Equal(r.SNIHosts, []string{"web.example"}) || len(r.SourcePrincipals) != 1 {
			t.Fatalf("rule: %+v", r)
		}
		if v := m.Identity(id("b", "web")); len(v.Ingress) != 1 {
			t.Fatalf("the backend's identity has no ingress rule")
		}
	})
	for _, tc := range []struct {
		name, backends, sources string
		rules                   int
		problem                 string
	}{
		{"a missing backend service is skipped", "[{name: nope, port: {number: 80, protocol: http}}]", "[{kind: IPRange, name: 10.0.0.0/8}]", 0, "service b/nope does not exist"},
		{"a port the backend lacks is skipped", "[{name: web, port: {number: 81, protocol: http}}]", "[{kind: IPRange, name: 10.0.0.0/8}]", 0, "has no port 81"},
		{"an unknown protocol is skipped", "[{name: web, port: {number: 80, protocol: udp}}]", "[{kind: IPRange, name: 10.0.0.0/8}]", 0, `Unsupported value: "udp"`},
		{"a bad CIDR leaves no source", "[{name: web, port: {number: 80, protocol: http}}]", "[{kind: IPRange, name: 10.0.0.0/33}]", 0, "no valid source"},
		// OSM too fails closed: the endpoints of a Service source restrict
		// who is admitted; without them the policy admits no one.
		{"a missing source service skips the policy", "[{name: web, port: {number: 80, protocol: http}}]",
			"[{kind: Service, name: gone, namespace: x}, {kind: IPRange, name: 10.0.0.1/32}]", 0,
			"IngressBackend b/ib: spec.sources[0].name: service x/gone does not exist, so no address can be admitted for it; IngressBackend skipped"},
		{"a source service without endpoints, alone, skips the policy", "[{name: web, port: {number: 80, protocol: http}}]",
			"[{kind: Service, name: idle, namespace: b}]", 0,
			"IngressBackend b/ib: spec.sources[0].name: service b/idle has no endpoints, so no address can be admitted for it; IngressBackend skipped until it has some"},
		{"a source service without endpoints beside a principal skips the policy", "[{name: web, port: {number: 80, protocol: https}, tls: {skipClientCertValidation: true}}]",
			"[{kind: AuthenticatedPrincipal, name: nginx.ingress-nginx.cluster.local}, {kind: Service, name: idle, namespace: b}]", 0,
			"spec.sources[1].name: service b/idle has no endpoints"},
		{"a bare address is no CIDR, as OSM had it", "[{name: web, port: {number: 80, protocol: http}}]",
			"[{kind: IPRange, name: 10.0.0.1}, {kind: IPRange, name: 10.0.0.0/8}]", 1, `spec.sources[0].name: Invalid value: "10.0.0.1": must be a CIDR such as 10.0.0.0/8; source skipped`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := build(t, apps, `{apiVersion: v1, kind: Service, metadata: {name: idle, namespace: b}, spec: {ports: [{port: 80}]}}`,
				ingressBackend("ib", tc.backends, tc.sources))
			if len(m.IngressRules) != tc.rules || !hasProblem(m, "IngressBackend", "ib", tc.problem) {
				t.Fatalf("rules %+v, problems:%s", m.IngressRules, problems(m))
			}
		})
	}
	// OSM v1.2 never read featureFlags.enableIngressBackendPolicy.
	for _, flags := range []string{"", "{}", "{enableIngressBackendPolicy: true}", "{enableIngressBackendPolicy: false}"} {
		t.Run("IngressBackends apply with featureFlags "+flags, func(t *testing.T) {
			docs := []string{apps, ingressBackend("ib", "[{name: web, port: {number: 80, protocol: http}}]", "[{kind: IPRange, name: 10.0.0.0/8}]")}
			if flags != "" {
				docs = append(docs, `{apiVersion: config.openservicemesh.io/v1alpha2, kind: MeshConfig, metadata: {name: osm-mesh-config, namespace: osm-system},
  spec: {featureFlags: `+flags+`}}`)
			}
			m := build(t, docs...)
			if len(m.IngressRules) != 1 {
				t.Fatalf("rules %+v, problems:%s", m.IngressRules, problems(m))
			}
			var want []string
			if strings.Contains(flags, "false") {
				want = []string{"MeshConfig osm-system/osm-mesh-config: spec.featureFlags.enableIngressBackendPolicy: false is not honoured: IngressBackends always apply, as in OSM v1.2, which never read this flag"}
			}
			checkProblems(t, m, want)
		})
	}
	t.Run("two IngressBackends for one backend port: the first wins", func(t *testing.T) {
		m := build(t, apps, ingressBackend("a", "[{name: web, port: {number: 80, protocol: http}}]", "[{kind: IPRange, name: 10.0.0.0/8}]"),
			ingressBackend("b", "[{name: web, port: {number: 80, protocol: http}}]", "[{kind: IPRange, name: 10.0.0.0/8}]"))
		if len(m.IngressRules) != 1 || m.IngressRules[0].Policy.Name != "a" || !hasProblem(m, "IngressBackend", "b", "already admits") {
			t.Fatalf("rules %+v, problems:%s", m.IngressRules, problems(m))
		}
	})
}

func TestEgress(t *testing.T) {
	client := app("a", "client", "[{name: http, port: 80}]")
	egress := func(spec string) string {
		return `{apiVersion: policy.openservicemesh.io/v1alpha1, kind: Egress, metadata: {name: e, namespace: a}, spec: ` + spec + `}`
	}
	for _, tc := range []struct {
		name, doc   string
		rules       int
		passthrough bool
		problem     string
	}{
		{"hosts, ranges and ports resolve", egress(`{sources: [{kind: ServiceAccount, name: client, namespace: a}], hosts: [HTTPbin.org],
  ipAddresses: [203.0.113.0/24], ports: [{number: 443, protocol: https}, {number: 80, protocol: http}]}`), 1, false, ""},
		{"passthrough when the MeshConfig enables egress", `{apiVersion: config.openservicemesh.io/v1alpha2, kind: MeshConfig,
  metadata: {name: osm-mesh-config, namespace: osm-system}, spec: {traffic: {enableEgress: true}, featureFlags: {enableEgressPolicy: true}}}`, 0, true, ""},
		{"a missing source skips the policy", egress(`{sources: [{kind: ServiceAccount, name: ghost, namespace: a}], hosts: [x.org], ports: [{number: 80, protocol: http}]}`),
			0, false, "service account a/ghost does not exist"},
		{"a policy without a valid port is skipped", egress(`{sources: [{kind: ServiceAccount, name: client, namespace: a}], hosts: [x.org], ports: [{number: 80, protocol: quic}]}`),
			0, false, "no valid port"},
		{"the feature flag off ignores Egress", egress(`{sources: [{kind: ServiceAccount, name: client, namespace: a}], hosts: [x.org], ports: [{number: 80, protocol: http}]}`) +
			"\n---\n" + `{apiVersion: config.openservicemesh.io/v1alpha2, kind: MeshConfig, metadata: {name: osm-mesh-config, namespace: osm-system},
  spec: {traffic: {enableEgress: false}, featureFlags: {enableEgressPolicy: false}}}`,
			0, false, "enableEgressPolicy is off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := build(t, client, tc.doc)
			v := m.Identity(id("a", "client"))
			if len(v.Egress) != tc.rules || v.EgressPassthrough != tc.passthrough {
				t.Fatalf("egress %+v passthrough %v; problems:%s", v.Egress, v.EgressPassthrough, problems(m))
			}
			if tc.problem == "" {
				checkProblems(t, m, nil)
			} else if !hasProblem(m, "Egress", "e", tc.problem) {
				t.Fatalf("problems:%s", problems(m))
			}
			if tc.rules == 1 && (v.Egress[0].Hosts[0] != "httpbin.org" || v.Egress[0].Ports[0].Number != 80) {
				t.Fatalf("rule: %+v", v.Egress[0])
			}
		})
	}
}

// TestEgressPortsForAnyDestination: OSM matched an Egress tcp port by IP
// range alone and an https port by host or IP range; a port with nothing
// listed to match by admits any destination (OSM's egress demo's tcp-443).
func TestEgressPortsForAnyDestination(t *testing.T) {
	client := app("a", "client", "[{name: http, port: 80}]")
	egress := func(spec string) string {
		return `{apiVersion: policy.openservicemesh.io/v1alpha1, kind: Egress, metadata: {name: e, namespace: a},
  spec: {sources: [{kind: ServiceAccount, name: client, namespace: a}], ` + spec + `}}`
	}
	for _, tc := range []struct {
		name, spec string
		ports      []catalog.PolicyPort // nil when the Egress is skipped
		problems   []string
	}{
		{name: "tcp without hosts or IP ranges", spec: `ports: [{number: 443, protocol: tcp}]`,
			ports: []catalog.PolicyPort{{Number: 443, Protocol: "tcp", AnyDestination: true}}},
		{name: "tcp-server-first and https without hosts or IP ranges",
			spec:  `ports: [{number: 3306, protocol: tcp-server-first}, {number: 443, protocol: https}]`,
			ports: []catalog.PolicyPort{{Number: 443, Protocol: "https", AnyDestination: true}, {Number: 3306, Protocol: "tcp-server-first", AnyDestination: true}}},
		{name: "IP ranges narrow tcp and https ports", spec: `ipAddresses: [203.0.113.0/24], ports: [{number: 443, protocol: tcp}, {number: 8443, protocol: https}]`,
			ports: []catalog.PolicyPort{{Number: 443, Protocol: "tcp"}, {Number: 8443, Protocol: "https"}}},
		{name: "hosts narrow https but not tcp, which says so", spec: `hosts: [db.example.com], ports: [{number: 443, protocol: https}, {number: 5432, protocol: tcp}]`,
			ports:    []catalog.PolicyPort{{Number: 443, Protocol: "https"}, {Number: 5432, Protocol: "tcp", AnyDestination: true}},
			problems: []string{"Egress a/e: spec.ports[1].protocol: hosts cannot be matched on tcp port 5432 (no Host or SNI to read): it admits any destination, as in OSM; name spec.ipAddresses or use https to narrow it"}},
		{name: "an IP range listed but invalid opens nothing", spec: `ipAddresses: [203.0.113.7], ports: [{number: 443, protocol: tcp}]`,
			problems: []string{`Egress a/e: spec.ipAddresses[0]: Invalid value: "203.0.113.7": must be a CIDR such as 10.0.0.0/8; IP range skipped`,
				"Egress a/e: spec: no valid host or ipAddress; Egress skipped"}},
		{name: "an http port needs something to match by", spec: `ports: [{number: 80, protocol: http}, {number: 443, protocol: tcp}]`,
			ports:    []catalog.PolicyPort{{Number: 443, Protocol: "tcp", AnyDestination: true}},
			problems: []string{`Egress a/e: spec.ports[0].protocol: Invalid value: "http": an http port is matched by host: name spec.hosts or spec.ipAddresses (a tcp port admits any destination); port skipped`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			checkEgress(t, build(t, client, egress(tc.spec)), func(r *catalog.EgressRule) []catalog.PolicyPort { return r.Ports }, tc.ports, tc.problems)
		})
	}
}

func TestEgressHosts(t *testing.T) {
	client := app("a", "client", "[{name: http, port: 80}]")
	egress := func(hosts string) string {
		return `{apiVersion: policy.openservicemesh.io/v1alpha1, kind: Egress, metadata: {name: e, namespace: a},
  spec: {sources: [{kind: ServiceAccount, name: client, namespace: a}], hosts: ` + hosts + `, ports: [{number: 80, protocol: http}]}}`
	}
	for _, tc := range []struct {
		name     string
		hosts    string
		want     []string // the rule's hosts; nil when the Egress is skipped
		problems []string
	}{{
		name:  "a lone star is refused, pointing to egress passthrough",
		hosts: `["*"]`,
		problems: []string{
			`Egress a/e: spec.hosts[0]: Invalid value: "*": a lone "*" would allow every host on these ports; to allow egress to any destination, turn on egress passthrough (MeshConfig spec.traffic.enableEgress) instead; host skipped`,
			"Egress a/e: spec: no valid host or ipAddress; Egress skipped",
		},
	}, {
		name:  "each malformed wildcard is a problem and the good hosts still apply",
		hosts: `["*.", "a.*.com", "**.x", "*x.com", "a..com", "exa_mple.com", HTTPbin.org, "*.Example.com"]`,
		want:  []string{"*.example.com", "httpbin.org"},
		problems: []string{
			`Egress a/e: spec.hosts[0]: Invalid value: "*.": must be a host name such as httpbin.org or *.example.com: nothing follows the wildcard; host skipped`,
			`Egress a/e: spec.hosts[1]: Invalid value: "a.*.com": must be a host name such as httpbin.org or *.example.com: a wildcard is allowed only as a leading "*."; host skipped`,
			`Egress a/e: spec.hosts[2]: Invalid value: "**.x": must be a host name`,
			`Egress a/e: spec.hosts[3]: Invalid value: "*x.com": must be a host name`,
			`Egress a/e: spec.hosts[4]: Invalid value: "a..com": must be a host name such as httpbin.org or *.example.com: empty label; host skipped`,
			`Egress a/e: spec.hosts[5]: Invalid value: "exa_mple.com": must be a host name`,
		},
	}, {
		name:  "a label longer than DNS allows is a problem",
		hosts: `[` + strings.Repeat("a", 64) + `.com, httpbin.org]`,
		want:  []string{"httpbin.org"},
		problems: []string{
			`Egress a/e: spec.hosts[0]: Invalid value: "` + strings.Repeat("a", 64) + `.com": must be a host name such as httpbin.org or *.example.com: label "` + strings.Repeat("a", 64) + `" is longer than 63 characters; host skipped`,
		},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			checkEgress(t, build(t, client, egress(tc.hosts)), func(r *catalog.EgressRule) []string { return r.Hosts }, tc.want, tc.problems)
		})
	}
}

// checkEgress checks that a/client has one Egress rule whose field is want
// (none when want is nil), and the model exactly problems.
func checkEgress[T comparable](t *testing.T, m *catalog.Model, field func(*catalog.EgressRule) []T, want []T, problems []string) {
	t.Helper()
	v := m.Identity(id("a", "client"))
	switch {
	case want == nil && len(v.Egress) != 0:
		t.Errorf("egress %+v, want none", v.Egress[0])
	case want != nil && (len(v.Egress) != 1 || !slices.Equal(field(v.Egress[0]), want)):
		t.Errorf("egress %+v, want one rule with %v", v.Egress, want)
	}
	checkProblems(t, m, problems)
}

func TestUpstreamTrafficSettingsAndRetries(t *testing.T) {
	apps := app("a", "client", "[{name: http, port: 80}]") + "\n---\n" + app("b", "web", "[{name: http, port: 80}]") + "\n---\n" +
		`{apiVersion: config.openservicemesh.io/v1alpha2, kind: MeshConfig, metadata: {name: osm-mesh-config, namespace: osm-system},
  spec: {traffic: {enablePermissiveTrafficPolicyMode: true}, featureFlags: {enableRetryPolicy: true}}}`
	uts := func(name, host string) string {
		return `{apiVersion: policy.openservicemesh.io/v1alpha1, kind: UpstreamTrafficSetting, metadata: {name: ` + name + `, namespace: b},
  spec: {host: ` + host + `, connectionSettings: {tcp: {maxConnections: 10}}}}`
	}
	retry := func(name, dest string) string {
		return `{apiVersion: policy.openservicemesh.io/v1alpha1, kind: Retry, metadata: {name: ` + name + `, namespace: a},
  spec: {source: {kind: ServiceAccount, name: client, namespace: a}, destinations: [{kind: Service, name: ` + dest + `, namespace: b}],
  retryPolicy: {retryOn: 5xx, numRetries: 3, perTryTimeout: 2s}}}`
	}
	t.Run("a setting attaches to the service its host names, inbound and outbound", func(t *testing.T) {
		m := build(t, apps, uts("u", "web.b.svc.cluster.local"))
		checkProblems(t, m, nil)
		if s := m.Service(svc("b", "web")); s.UpstreamTrafficSetting == nil || *s.UpstreamTrafficSetting.MaxConnections != 10 {
			t.Fatalf("service: %+v", s)
		}
		if in := inbound(m, id("b", "web"), svc("b", "web"), 80); in.UpstreamTrafficSetting == nil {
			t.Fatalf("inbound has no setting")
		}
	})
	t.Run("two settings for one host: the first wins", func(t *testing.T) {
		m := build(t, apps, uts("u1", "web.b.svc.cluster.local"), uts("u2", "web.b"))
		if s := m.Service(svc("b", "web")); s.UpstreamTrafficSetting.Policy.Name != "u1" {
			t.Fatalf("setting: %+v", s.UpstreamTrafficSetting)
		}
		checkProblems(t, m, []string{`UpstreamTrafficSetting b/u2: spec.host: Invalid value: "web.b": already claimed by UpstreamTrafficSetting b/u1: one host takes one setting; UpstreamTrafficSetting skipped`})
	})
	t.Run("a host that is no service is skipped", func(t *testing.T) {
		checkProblems(t, build(t, apps, uts("u", "nope.b.svc.cluster.local")), []string{"is no mesh service"})
	})
	t.Run("a rate-limited path too large for Envoy is left out of the setting, with a problem", func(t *testing.T) {
		doc := `{apiVersion: policy.openservicemesh.io/v1alpha1, kind: UpstreamTrafficSetting, metadata: {name: u, namespace: b},
  spec: {host: web.b.svc.cluster.local, httpRoutes: [
    {path: "/[a-z]{1,500}/books", rateLimit: {local: {requests: 10, unit: second}}},
    {path: /books, rateLimit: {local: {requests: 10, unit: second}}},
    {path: "(bad", rateLimit: {local: {requests: 10, unit: second}}}]}}`
		s := state(t, apps, doc)
		m := catalog.Build(s, mesh.Defaults())
		checkProblems(t, m, []string{
			`UpstreamTrafficSetting b/u: spec.httpRoutes[0].path: Invalid value: "/[a-z]{1,500}/books": regular expression is too large for Envoy (program size 1010, limit 100); route skipped`,
			`UpstreamTrafficSetting b/u: spec.httpRoutes[2].path: Invalid value: "(bad": not a regular expression`,
		})
		u := m.Service(svc("b", "web")).UpstreamTrafficSetting
		if u == nil || len(u.RouteRateLimits) != 1 || u.RouteRateLimits[0].PathRegex != "/books" {
			t.Fatalf("setting: %+v", u)
		}
		if got := s.UpstreamTrafficSettings[0].Spec.HTTPRoutes; len(got) != 3 || got[0].Path != "/[a-z]{1,500}/books" {
			t.Fatalf("the State's object was modified: %+v", got)
		}
	})
	t.Run("a retry attaches to the source's outbound toward its destinations", func(t *testing.T) {
		m := build(t, apps, retry("r", "web"))
		checkProblems(t, m, nil)
		o := outbound(m, id("a", "client"), svc("b", "web"))
		if o.Retry == nil || o.Retry.RetryOn != "5xx" || *o.Retry.NumRetries != 3 || o.Retry.PerTryTimeout != 2*time.Second {
			t.Fatalf("retry: %+v", o.Retry)
		}
		if outbound(m, id("a", "client"), svc("a", "client")).Retry != nil {
			t.Fatalf("the retry applies to another destination")
		}
	})
	t.Run("a retry to a missing service and a second retry are skipped", func(t *testing.T) {
		m := build(t, apps, retry("r1", "web"), retry("r2", "web"), retry("r3", "gone"))
		checkProblems(t, m, []string{"Retry a/r2: spec.destinations[0]: Retry a/r1 already sets retries", "Retry a/r3: spec.destinations[0].name: service b/gone does not exist"})
	})
}
