package envoy_test

import (
	"testing"
	"time"

	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	rbachttpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/http/rbac/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"

	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
)

// The Envoy fields OSM v1.2 users' traffic depends on (issue #12).

var (
	splitFixtures   = []string{"mesh.yaml", "bookstore.yaml", "access.yaml", "split.yaml", "policies.yaml"}
	ingressFixtures = []string{"mesh.yaml", "bookstore.yaml", "access.yaml", "policies.yaml", "ingress.yaml"}
	egressFixtures  = []string{"mesh.yaml", "egress.yaml"}
)

// virtualHost is the virtual host vhost of route configuration rds.
func virtualHost(t *testing.T, r *envoy.Resources, rds, vhost string) *routev3.VirtualHost {
	t.Helper()
	rc := named(t, r.Routes, rds, "route configurations")
	return named(t, rc.GetVirtualHosts(), vhost, "virtual hosts of "+rds)
}

func TestHTTPRoutesHaveNoDeadline(t *testing.T) {
	tests := []struct {
		name     string
		fixtures []string
		proxy    identity.Identity
	}{
		{"outbound routes, retried ones too", splitFixtures, bookbuyer},
		{"inbound and ingress routes, rate limited ones too", ingressFixtures, bookstore},
		{"egress routes", egressFixtures, curl},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := generate(t, tt.fixtures, tt.proxy)
			n := 0
			for _, rc := range r.Routes {
				for _, vh := range rc.GetVirtualHosts() {
					for _, rt := range vh.GetRoutes() {
						if a := rt.GetRoute(); a != nil {
							n++
							if a.GetTimeout() == nil || a.GetTimeout().AsDuration() != 0 {
								t.Errorf("%s %s: timeout %v, want 0s (Envoy's default is 15 s)", rc.GetName(), vh.GetName(), a.GetTimeout())
							}
						}
					}
				}
			}
			if n == 0 {
				t.Fatal("no route")
			}
		})
	}
	t.Run("a retry keeps its per-try timeout", func(t *testing.T) {
		r := generate(t, splitFixtures, bookbuyer)
		vh := virtualHost(t, r, "rds-outbound.14001", "outbound|bookstore/bookstore|14001")
		if got := vh.GetRoutes()[0].GetRoute().GetRetryPolicy().GetPerTryTimeout().AsDuration(); got != time.Second {
			t.Errorf("per-try timeout %v, want the Retry policy's 1s", got)
		}
	})
}

func TestHostHeaderMatchesAuthority(t *testing.T) {
	fixtures := []string{"mesh.yaml", "bookstore.yaml", "egress.yaml", "host-match.yaml"}
	t.Run("in an RBAC permission", func(t *testing.T) {
		fc := chain(t, listener(t, generate(t, fixtures, bookstore), envoy.InboundListenerName), "inbound|bookstore/bookstore|14001")
		hcm := unpack[*hcmv3.HttpConnectionManager](t, fc.GetFilters()[0].GetTypedConfig())
		rbac := unpack[*rbachttpv3.RBAC](t, hcm.GetHttpFilters()[0].GetTypedConfig())
		h := rbac.GetRules().GetPolicies()["bookstore/bookbuyer-by-host"].GetPermissions()[0].GetHeader()
		if h.GetName() != ":authority" || h.GetStringMatch().GetSafeRegex().GetRegex() != `bookstore-v1\..*` {
			t.Errorf("header matcher %v, want :authority", h)
		}
	})
	t.Run("in a route match", func(t *testing.T) {
		vh := virtualHost(t, generate(t, fixtures, curl), "rds-egress.8080", "egress|httpbin.org:8080")
		h := vh.GetRoutes()[0].GetMatch().GetHeaders()
		if len(h) != 1 || h[0].GetName() != ":authority" || h[0].GetStringMatch().GetSafeRegex().GetRegex() != `httpbin\.org` {
			t.Errorf("header matchers %v, want :authority", h)
		}
	})
}
