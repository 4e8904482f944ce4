package catalog_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/mesh"
)

func slice(ns, svcName, ip string, ready bool) string {
	return fmt.Sprintf(`{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: %[2]s-1, namespace: %[1]s,
  labels: {kubernetes.io/service-name: %[2]s}}, addressType: IPv4, ports: [{name: http, port: 80}],
  endpoints: [{addresses: [%[3]s], conditions: {ready: %[4]v}}]}`, ns, svcName, ip, ready)
}

func TestChangedIdentities(t *testing.T) {
	base := []string{
		app("a", "client", "[{name: http, port: 80}]"), app("a", "other", "[{name: http, port: 80}]"),
		app("b", "web", "[{name: http, port: 80}]"), app("b", "db", "[{name: http, port: 80}]"),
		`{apiVersion: specs.smi-spec.io/v1alpha4, kind: TCPRoute, metadata: {name: all, namespace: b}, spec: {matches: {name: all}}}`,
		target("web", "web", []string{"client"}, "[{kind: TCPRoute, name: all}]"),
		target("db", "db", []string{"other"}, "[{kind: TCPRoute, name: all}]"),
		slice("b", "db", "10.0.0.9", true),
	}
	prev := build(t, append(slices.Clone(base), slice("b", "web", "10.0.0.1", true))...)
	for _, tc := range []struct {
		name   string
		change []string
		want   []identity.Identity
	}{
		{"nothing changed, nobody is recomputed", []string{slice("b", "web", "10.0.0.1", true)}, nil},
		{"an endpoint of web marks web's clients and web only", []string{slice("b", "web", "10.0.0.2", true)},
			[]identity.Identity{id("a", "client"), id("b", "web")}},
		{"readiness is a change too", []string{slice("b", "web", "10.0.0.1", false)},
			[]identity.Identity{id("a", "client"), id("b", "web")}},
		{"a new identity is a change", []string{slice("b", "web", "10.0.0.1", true),
			`{apiVersion: v1, kind: ServiceAccount, metadata: {name: new, namespace: a}}`}, []identity.Identity{id("a", "new")}},
		{"a MeshConfig change touches everyone", []string{slice("b", "web", "10.0.0.1", true), permissive},
			[]identity.Identity{id("a", "client"), id("a", "other"), id("b", "db"), id("b", "web")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := build(t, append(slices.Clone(base), tc.change...)...)
			if got := next.ChangedIdentities(prev); !slices.Equal(got, tc.want) {
				t.Fatalf("changed %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("a nil previous model changes everyone", func(t *testing.T) {
		if got := prev.ChangedIdentities(nil); len(got) != 4 {
			t.Fatalf("changed %v", got)
		}
	})
}

func TestBuildNeverPanics(t *testing.T) {
	t.Run("a nil state is an empty model", func(t *testing.T) {
		if m := catalog.Build(nil, mesh.Defaults()); len(m.Services) != 0 || m.Identity(id("a", "b")) != nil {
			t.Fatalf("model: %+v", m)
		}
	})
	t.Run("objects with every field empty", func(t *testing.T) {
		m := build(t, `{apiVersion: v1, kind: Service, metadata: {name: s, namespace: a}}`,
			`{apiVersion: access.smi-spec.io/v1alpha3, kind: TrafficTarget, metadata: {name: t, namespace: a}, spec: {destination: {kind: ""}}}`,
			`{apiVersion: split.smi-spec.io/v1alpha2, kind: TrafficSplit, metadata: {name: t, namespace: a}, spec: {service: "", backends: null}}`,
			`{apiVersion: policy.openservicemesh.io/v1alpha1, kind: IngressBackend, metadata: {name: i, namespace: a}, spec: {backends: null, sources: null}}`,
			`{apiVersion: policy.openservicemesh.io/v1alpha1, kind: Egress, metadata: {name: e, namespace: a}, spec: {sources: null, ports: null}}`,
			`{apiVersion: policy.openservicemesh.io/v1alpha1, kind: UpstreamTrafficSetting, metadata: {name: u, namespace: a}, spec: {host: ""}}`,
			`{apiVersion: discovery.k8s.io/v1, kind: EndpointSlice, metadata: {name: e, namespace: a, labels: {kubernetes.io/service-name: s}}, addressType: IPv4, endpoints: [{addresses: []}], ports: [{}]}`)
		if len(m.Problems) == 0 {
			t.Fatalf("no problems recorded")
		}
	})
}

// meshConfig is a MeshConfig with the given spec fields (YAML flow mappings).
func meshConfig(sidecar, traffic, features string) string {
	return `{apiVersion: config.openservicemesh.io/v1alpha2, kind: MeshConfig, metadata: {name: osm-mesh-config, namespace: osm-system},
  spec: {sidecar: {` + sidecar + `}, traffic: {` + traffic + `}, featureFlags: {` + features + `}}}`
}

// TestMeshConfigEditsPushOnlyWhatTheGeneratorReads counts the identities a
// MeshConfig edit re-pushes: an edit of a setting only the injector or the
// control plane reads pushes nobody, an edit the generator reads pushes
// everyone, including proxies of identities the model does not hold.
func TestMeshConfigEditsPushOnlyWhatTheGeneratorReads(t *testing.T) {
	base := []string{
		app("a", "client", "[{name: http, port: 80}]"), app("b", "web", "[{name: http, port: 80}]"),
		`{apiVersion: specs.smi-spec.io/v1alpha4, kind: TCPRoute, metadata: {name: all, namespace: b}, spec: {matches: {name: all}}}`,
		target("web", "web", []string{"client"}, "[{kind: TCPRoute, name: all}]"),
		slice("b", "web", "10.0.0.1", true),
	}
	const (
		sidecar  = `logLevel: error, envoyImage: "envoyproxy/envoy:v1.27", tlsMinProtocolVersion: TLSv1_2, tlsMaxProtocolVersion: TLSv1_3`
		traffic  = `enablePermissiveTrafficPolicyMode: false, enableEgress: false`
		features = `enableEgressPolicy: true, enableIngressBackendPolicy: true, enableWASMStats: false`
	)
	prev := build(t, append(slices.Clone(base), meshConfig(sidecar, traffic, features))...)
	everyone := []identity.Identity{id("a", "client"), id("b", "web")}
	for _, tc := range []struct {
		name                       string
		sidecar, traffic, features string
		want                       []identity.Identity
	}{
		{"no edit", sidecar, traffic, features, nil},
		{"sidecar.logLevel is the injector's", strings.Replace(sidecar, "logLevel: error", "logLevel: debug", 1), traffic, features, nil},
		{"sidecar.envoyImage is the injector's", strings.Replace(sidecar, "v1.27", "v1.28", 1), traffic, features, nil},
		{"a feature flag the generator never reads", sidecar, traffic, strings.Replace(features, "enableWASMStats: false", "enableWASMStats: true", 1), nil},
		{"sidecar.tlsMinProtocolVersion", strings.Replace(sidecar, "tlsMinProtocolVersion: TLSv1_2", "tlsMinProtocolVersion: TLSv1_3", 1), traffic, features, everyone},
		{"sidecar.tlsMaxProtocolVersion", strings.Replace(sidecar, "tlsMaxProtocolVersion: TLSv1_3", "tlsMaxProtocolVersion: TLSv1_2", 1), traffic, features, everyone},
		{"traffic.enablePermissiveTrafficPolicyMode", sidecar, strings.Replace(traffic, "Mode: false", "Mode: true", 1), features, everyone},
		{"traffic.enableEgress", sidecar, strings.Replace(traffic, "enableEgress: false", "enableEgress: true", 1), features, everyone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			next := build(t, append(slices.Clone(base), meshConfig(tc.sidecar, tc.traffic, tc.features))...)
			if got := next.ChangedIdentities(prev); !slices.Equal(got, tc.want) {
				t.Fatalf("changed %v, want %v", got, tc.want)
			}
			// A proxy whose identity neither model holds is configured from
			// the settings alone: it changes with what changes everyone.
			if got, want := next.UnknownIdentitiesChanged(prev), tc.want != nil; got != want {
				t.Errorf("proxies of identities not in the model changed: %v, want %v", got, want)
			}
		})
	}
}
