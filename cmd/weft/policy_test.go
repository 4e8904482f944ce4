package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/weft-mesh/weft/internal/testenv"
)

// TestPolicyCheckGolden checks `weft policy check` on files: the bookstore
// story, permissive mode, a split, HTTP requests allowed and denied by path
// and method, a TCPRoute, a source outside the mesh and a destination only an
// IngressBackend admits, and a Gateway's proxy admitted where its routes go.
func TestPolicyCheckGolden(t *testing.T) {
	ex := func(p string) string { return filepath.Join("..", "..", "examples", p) }
	td := func(p string) string { return filepath.Join("testdata", "policy-check", p) }
	bookstore := []string{"-f", ex("bookstore"), "-f", ex("osm-system-namespace.yaml"), "-f", ex("meshconfig.yaml")}
	ingress := append(append([]string{}, bookstore...), "-f", ex("ingress-nginx"), "-f", td("ingress-nginx-pod.yaml"))
	with := func(base []string, args ...string) []string { return append(append([]string{}, args...), base...) }
	for _, c := range []struct {
		name string
		args []string
	}{
		{"bookbuyer-buys-through-the-split", with(bookstore, "bookbuyer/bookbuyer-0", "bookstore/bookstore:14001", "--path", "/buy-a-book/new", "--method", "GET")},
		{"bookbuyer-every-request", with(bookstore, "bookbuyer/bookbuyer-0", "bookstore/bookstore-v1")},
		{"path-denied", with(bookstore, "bookbuyer/bookbuyer-0", "bookstore/bookstore-v1:http", "--path", "/books")},
		{"method-denied", with(bookstore, "bookbuyer/bookbuyer-0", "bookstore-v1.bookstore:14001", "--path", "/buy-a-book/new", "--method", "POST")},
		{"headers-admit-books-bought", with(bookstore, "bookbuyer-0", "bookstore/bookstore-v2:14001", "-n", "bookbuyer", "--path", "/books-bought",
			"-H", "User-Agent: go-http-client/1.1", "-H", "client-app: bookbuyer")},
		{"bookthief-denied", with(bookstore, "bookthief/bookthief-0", "bookstore/bookstore")},
		{"tcproute", with(bookstore, "bookstore/bookstore-v1-0", "bookwarehouse/bookwarehouse:14001")},
		{"tcp-port-not-granted", with(bookstore, "bookbuyer/bookbuyer-0", "bookwarehouse/bookwarehouse")},
		{"permissive", []string{"bookthief/bookthief-0", "bookstore/bookstore-v1", "-f", ex("bookstore"), "-f", td("permissive.yaml")}},
		{"source-outside-the-mesh", with(bookstore, "outside/curl", "bookstore/bookstore-v1", "-f", td("outside.yaml"))},
		{"ingress-controller-admitted", with(ingress, "ingress-nginx/ingress-nginx-controller-0", "bookstore/bookstore-v1:14001")},
		{"ingress-only-destination", with(ingress, "ingress-nginx/ingress-nginx-controller-0", "shop/web", "--path", "/shop/cart", "-f", td("ingress-only.yaml"))},
		{"ingress-only-destination-path-denied", with(ingress, "ingress-nginx/ingress-nginx-controller-0", "shop/web", "--path", "/admin", "-f", td("ingress-only.yaml"))},
		{"ingress-only-destination-from-the-mesh", with(ingress, "bookbuyer/bookbuyer-0", "shop/web", "-f", td("ingress-only.yaml"))},
		{"destination-outside-the-mesh", with(bookstore, "bookbuyer/bookbuyer-0", "ingress-nginx/ingress-nginx-controller")},
		{"no-such-port", with(bookstore, "bookbuyer/bookbuyer-0", "bookstore/bookstore:80")},
		{"gateway-admitted-to-its-backend", with(bookstore, "bookstore/ingress-weft-gateway-0", "bookstore/bookstore-v1:14001", "-f", td("gateway.yaml"))},
		{"gateway-denied-where-no-route-goes", with(bookstore, "bookstore/ingress-weft-gateway-0", "bookstore/bookstore-v2:14001", "-f", td("gateway.yaml"))},
		{"check-pods", append([]string{"policy", "check-pods", "bookbuyer/bookbuyer-0", "bookstore/bookstore-v2-0"}, bookstore...)},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if args[0] != "policy" {
				args = append([]string{"policy", "check"}, args...)
			}
			out, err := runWeft(args...)
			checkGolden(t, "policy-check", c.name, commandLine(args)+withExit(out, err))
		})
	}
}

// TestPolicyCheckCluster runs `weft policy check` against a real API server
// holding the bookstore story.
func TestPolicyCheckCluster(t *testing.T) {
	env := testenv.Start(t)
	env.ApplyFiles(t, "examples/osm-system-namespace.yaml", "examples/meshconfig.yaml", "examples/bookstore",
		"cmd/weft/testdata/policy-check/cluster-pods.yaml")
	check := func(args ...string) (string, error) {
		return runWeft(append(append([]string{"policy", "check"}, args...), "--kubeconfig", env.KubeconfigPath)...)
	}
	out, err := check("bookbuyer/bookbuyer-0", "bookstore/bookstore-v1:14001", "--path", "/buy-a-book/new", "--method", "GET")
	if err != nil || !strings.HasPrefix(out, "allowed by TrafficTarget bookstore/bookbuyer-access-bookstore (rule HTTPRouteGroup bookstore/bookstore-service-routes match buy-a-book") {
		t.Errorf("bookbuyer buying a book: %v\n%s", err, out)
	}
	out, err = check("bookthief/bookthief-0", "bookstore/bookstore-v1:14001")
	if err == nil || !strings.HasPrefix(out, "denied: no TrafficTarget names source identity bookthief/bookthief for destination bookstore/bookstore") {
		t.Errorf("bookthief: %v\n%s", err, out)
	}
	if _, err := check("bookbuyer/nope", "bookstore/bookstore-v1"); err == nil || !strings.Contains(err.Error(), "not found") {
		t.Errorf("a missing pod: %v", err)
	}
}
