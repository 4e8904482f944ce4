package catalog_test

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/weft-mesh/weft/catalog"
)

func gatewayFixture(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("testdata/gateway.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// bookstoreApps are the Gateway fixture's backends, in restricted mode (no
// TrafficTarget names the gateway).
func bookstoreApps() string {
	return app("bookstore", "bookstore", "[{name: http, port: 14001}]") + "---" +
		app("bookstore", "bookstore-v1", "[{name: http, port: 14001}, {name: tcp-db, port: 5432}]") + "---" +
		app("bookstore", "bookstore-v2", "[{name: http, port: 14001}]") + "---" +
		app("other", "web", "[{name: http, port: 80}]")
}

func TestGatewayModel(t *testing.T) {
	m := build(t, bookstoreApps(), gatewayFixture(t))
	checkProblems(t, m, nil)
	gw := m.Gateway(catalog.GatewayIdentity("bookstore", "ingress"))
	if gw == nil {
		t.Fatalf("no gateway for bookstore/ingress-weft-gateway; gateways %v", m.Gateways)
	}
	var got []string
	for _, l := range gw.Listeners {
		s := fmt.Sprintf("%s %s %d %q certs=%d", l.Name, l.Protocol, l.Port, l.Hostname, len(l.Certificates))
		for _, r := range l.Routes {
			s += fmt.Sprintf(" %s%s->", r.Match.PathType, r.Match.Path)
			for _, be := range r.Backends {
				s += fmt.Sprintf("%s:%d/%d,", be.Service.Name, be.Port, be.Weight)
			}
		}
		got = append(got, s)
	}
	want := []string{
		`http http 80 "" certs=0 PathPrefix/books->bookstore-v1:14001/80000,bookstore-v2:14001/20000,`,
		`https https 443 "bookstore.example.com" certs=1 PathPrefix/books->bookstore-v1:14001/80000,bookstore-v2:14001/20000,`,
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("listeners\n%q\nwant\n%q", got, want)
	}
	if c := gw.Listeners[1].Certificates[0]; c.Secret.Name != "bookstore-tls" || !strings.HasPrefix(string(c.CertPEM), "-----BEGIN CERTIFICATE") {
		t.Errorf("certificate %v", c.Secret)
	}
	// The backends' inbound admits the gateway on the ports its routes reach only.
	for _, tc := range []struct {
		svc   string
		port  int32
		admit bool
	}{{"bookstore-v1", 14001, true}, {"bookstore-v2", 14001, true}, {"bookstore-v1", 5432, false}, {"bookstore", 14001, false}} {
		ref := svc("bookstore", tc.svc)
		in := inbound(m, id("bookstore", tc.svc), ref, tc.port)
		if in == nil {
			t.Fatalf("no inbound for %s:%d", ref, tc.port)
		}
		admitted := false
		for _, r := range in.Rules {
			if r.Policy == (catalog.ObjectRef{Kind: "Gateway", Namespace: "bookstore", Name: "ingress"}) && r.AllTraffic &&
				fmt.Sprint(r.Sources) == fmt.Sprint([]any{gw.Identity}) {
				admitted = true
			}
		}
		if admitted != tc.admit {
			t.Errorf("%s:%d admits the gateway: %v, want %v (rules %+v)", ref, tc.port, admitted, tc.admit, in.Rules)
		}
	}
}

func TestGatewayProblems(t *testing.T) {
	base := bookstoreApps()
	fixture := func(t *testing.T) string { return gatewayFixture(t) }
	for _, tc := range []struct {
		name     string
		edit     func(string) string
		extra    []string
		routes   int // routes on the http listener
		problems []string
	}{
		{"another controller's class is not Weft's", func(s string) string {
			return strings.Replace(s, "weft.io/gateway-controller", "example.com/other", 1)
		}, nil, -1, nil},
		{"a missing certificate skips the HTTPS listener", func(s string) string {
			return strings.Replace(s, "certificateRefs: [{name: bookstore-tls}]", "certificateRefs: [{name: nope}]", 1)
		}, nil, 1, []string{"Gateway bookstore/ingress: spec.listeners[1].tls.certificateRefs[0]: InvalidCertificateRef: secret bookstore/nope does not exist",
			"spec.listeners[1].tls.certificateRefs: InvalidCertificateRef: no usable certificate; listener skipped"}},
		{"a certificate of another namespace needs a ReferenceGrant", func(s string) string {
			return strings.Replace(s, "certificateRefs: [{name: bookstore-tls}]", "certificateRefs: [{name: bookstore-tls, namespace: other}]", 1)
		}, nil, 1, []string{"spec.listeners[1].tls.certificateRefs[0]: RefNotPermitted: no ReferenceGrant in namespace other",
			"spec.listeners[1].tls.certificateRefs: InvalidCertificateRef: no usable certificate"}},
		{"a TCP listener is not supported yet", func(s string) string {
			return strings.Replace(s, "- {name: http, protocol: HTTP, port: 80}", "- {name: http, protocol: HTTP, port: 80}\n    - {name: db, protocol: TCP, port: 5432}", 1)
		}, nil, 1, []string{"spec.listeners[1].protocol: UnsupportedProtocol: protocol TCP is not supported yet; listener skipped"}},
		{"a sectionName no listener has is NoMatchingParent", func(s string) string {
			return strings.Replace(s, "parentRefs: [{name: ingress}]", "parentRefs: [{name: ingress, sectionName: nope}]", 1)
		}, nil, 0, []string{"HTTPRoute bookstore/books: spec.parentRefs[0]: NoMatchingParent: Gateway bookstore/ingress has no listener"}},
		{"sectionName picks one listener", func(s string) string {
			return strings.Replace(s, "parentRefs: [{name: ingress}]", "parentRefs: [{name: ingress, sectionName: https}]", 1)
		}, nil, 0, nil},
		{"a route of another namespace is not allowed by default", nil,
			[]string{`{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: r, namespace: other},
  spec: {parentRefs: [{name: ingress, namespace: bookstore}], rules: [{backendRefs: [{name: web, port: 80}]}]}}`},
			1, []string{"HTTPRoute other/r: spec.parentRefs[0]: NotAllowedByListeners: no listener of Gateway bookstore/ingress allows this route"}},
		{"allowedRoutes All lets it", func(s string) string {
			return strings.Replace(s, "- {name: http, protocol: HTTP, port: 80}", "- {name: http, protocol: HTTP, port: 80, allowedRoutes: {namespaces: {from: All}}}", 1)
		}, []string{`{apiVersion: gateway.networking.k8s.io/v1, kind: HTTPRoute, metadata: {name: r, namespace: other},
  spec: {parentRefs: [{name: ingress, namespace: bookstore}], rules: [{backendRefs: [{name: web, port: 80}]}]}}`},
			2, nil},
		{"a route hostname outside the listeners' is NoMatchingListenerHostname", func(s string) string {
			return strings.Replace(s, "parentRefs: [{name: ingress}]", "parentRefs: [{name: ingress, sectionName: https}]\n  hostnames: [other.example.com]", 1)
		}, nil, 0, []string{"HTTPRoute bookstore/books: spec.parentRefs[0]: NoMatchingListenerHostname: no hostname of the route is within a listener's hostname of Gateway bookstore/ingress"}},
		{"a missing backend is BackendNotFound", func(s string) string {
			return strings.Replace(s, "{name: bookstore-v2, port: 14001, weight: 20}", "{name: gone, port: 14001, weight: 20}", 1)
		}, nil, 1, []string{"HTTPRoute bookstore/books: spec.rules[0].backendRefs[1]: BackendNotFound: service bookstore/gone does not exist"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := fixture(t)
			if tc.edit != nil {
				f = tc.edit(f)
			}
			m := build(t, append([]string{base, f}, tc.extra...)...)
			checkProblems(t, m, tc.problems)
			gw := m.Gateway(catalog.GatewayIdentity("bookstore", "ingress"))
			if tc.routes < 0 {
				if gw != nil {
					t.Fatalf("a gateway of another class was modelled")
				}
				return
			}
			if gw == nil || gw.Listeners[0].Name != "http" {
				t.Fatalf("gateway %+v", gw)
			}
			if n := len(gw.Listeners[0].Routes); n != tc.routes {
				t.Errorf("%d routes on the http listener, want %d", n, tc.routes)
			}
		})
	}
}

func TestGatewayListenerConflictsAndBadCertificates(t *testing.T) {
	for _, tc := range []struct {
		name, old, new string
		problem        string
	}{
		{"a port for two protocols is ProtocolConflict", "port: 443", "port: 80",
			"spec.listeners[1].port: ProtocolConflict: listener http already takes port 80 for http; listener skipped"},
		{"a port and hostname twice is HostnameConflict", "- {name: http, protocol: HTTP, port: 80}", "- {name: http, protocol: HTTP, port: 80}\n    - {name: http2, protocol: HTTP, port: 80}",
			`spec.listeners[1].hostname: HostnameConflict: listener http already takes port 80 for hostname ""; listener skipped`},
		{"a Secret that is no key pair is InvalidCertificateRef", "  tls.key: ", "  tls.key: bm90IGEga2V5\n  x: ",
			"spec.listeners[1].tls.certificateRefs[0]: InvalidCertificateRef: secret bookstore/bookstore-tls holds no valid tls.crt and tls.key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := strings.Replace(gatewayFixture(t), tc.old, tc.new, 1)
			m := build(t, bookstoreApps(), f)
			if !hasProblem(m, "Gateway", "ingress", tc.problem) {
				t.Errorf("no problem says %q; got:%s", tc.problem, problems(m))
			}
		})
	}
}

// A change to a Gateway's route reaches its proxies: the gateway identity's
// hash changes (with or without its service account yet), and so does the
// identity of a backend that now admits it.
func TestGatewayChangesReachItsProxies(t *testing.T) {
	before := build(t, bookstoreApps(), gatewayFixture(t))
	gw := catalog.GatewayIdentity("bookstore", "ingress")
	for _, tc := range []struct {
		name, old, new string
		changed        []string
	}{
		{"a weight", "weight: 20}", "weight: 30}", []string{gw.String()}},
		{"a new backend", "{name: bookstore-v2, port: 14001, weight: 20}", "{name: bookstore-v2, port: 14001, weight: 20}\n        - {name: bookstore, port: 14001}",
			[]string{"bookstore/bookstore", gw.String()}},
		{"without the service account", "kind: ServiceAccount\nmetadata: {name: ingress-weft-gateway", "kind: ConfigMap\nmetadata: {name: ingress-weft-gateway",
			[]string{gw.String()}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			after := build(t, bookstoreApps(), strings.Replace(gatewayFixture(t), tc.old, tc.new, 1))
			var got []string
			for _, id := range after.ChangedIdentities(before) {
				got = append(got, id.String())
			}
			for _, w := range tc.changed {
				if !slices.Contains(got, w) {
					t.Errorf("changed identities %v, want %s among them", got, w)
				}
			}
		})
	}
}

func TestGatewayRouteHostnames(t *testing.T) {
	for _, tc := range []struct {
		listener, route string
		want            string
	}{
		{"", "a.example.com", "[a.example.com]"},
		{"a.example.com", "a.example.com,b.example.com", "[a.example.com]"},
		{"*.example.com", "a.example.com,*.b.example.com,other.org", "[*.b.example.com a.example.com]"},
		{"a.example.com", "*.example.com", "[a.example.com]"},
		{"", "", "[]"},
	} {
		t.Run(tc.listener+" takes "+tc.route, func(t *testing.T) {
			f := strings.Replace(gatewayFixture(t), "- {name: http, protocol: HTTP, port: 80}", "- {name: http, protocol: HTTP, port: 80, hostname: \""+tc.listener+"\"}", 1)
			if tc.listener == "" {
				f = gatewayFixture(t)
			}
			if tc.route != "" {
				f = strings.Replace(f, "parentRefs: [{name: ingress}]", "parentRefs: [{name: ingress, sectionName: http}]\n  hostnames: [\""+strings.ReplaceAll(tc.route, ",", "\", \"")+"\"]", 1)
			}
			m := build(t, bookstoreApps(), f)
			checkProblems(t, m, nil)
			gw := m.Gateway(catalog.GatewayIdentity("bookstore", "ingress"))
			if got := fmt.Sprint(gw.Listeners[0].Routes[0].Hostnames); got != tc.want {
				t.Errorf("hostnames %s, want %s", got, tc.want)
			}
		})
	}
}
