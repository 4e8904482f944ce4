package catalog_test

import (
	"reflect"
	"testing"

	"github.com/weft-mesh/weft/catalog"
)

// TestMeshConfigDefaults: what a MeshConfig omits, a field or a whole
// section, takes OSM's default, as the CRD's schema gives it in a cluster; an
// explicit false stays false. Without any MeshConfig nothing is opened.
func TestMeshConfigDefaults(t *testing.T) {
	meshConfig := func(spec string) string {
		return `{apiVersion: config.openservicemesh.io/v1alpha2, kind: MeshConfig, metadata: {name: osm-mesh-config, namespace: osm-system}` + spec + `}`
	}
	// An Egress policy and a Retry show the feature flags.
	policies := app("a", "client", "[{name: http, port: 80}]") + "\n---\n" +
		`{apiVersion: policy.openservicemesh.io/v1alpha1, kind: Egress, metadata: {name: e, namespace: a},
  spec: {sources: [{kind: ServiceAccount, name: client, namespace: a}], ports: [{number: 443, protocol: tcp}]}}`
	defaults := catalog.Settings{Permissive: true, EgressPassthrough: true, TrustDomain: "cluster.local", ClusterDomain: "cluster.local",
		TLSMinVersion: catalog.TLSv1_2, TLSMaxVersion: catalog.TLSv1_3}
	for _, tc := range []struct {
		name      string
		doc       string
		want      catalog.Settings
		egressOff bool
		problems  []string
	}{
		{name: "no spec at all", doc: meshConfig(""), want: defaults},
		{name: "an empty spec", doc: meshConfig(", spec: {}"), want: defaults},
		{name: "empty sections", doc: meshConfig(", spec: {sidecar: {}, traffic: {}, featureFlags: {}}"), want: defaults},
		{name: "an explicit false stays false, the rest of its section defaults",
			doc:  meshConfig(", spec: {traffic: {enableEgress: false}, featureFlags: {enableRetryPolicy: true}}"),
			want: func() catalog.Settings { s := defaults; s.EgressPassthrough = false; return s }()},
		{name: "an explicit feature flag off", doc: meshConfig(", spec: {featureFlags: {enableEgressPolicy: false}}"), want: defaults, egressOff: true,
			problems: []string{"Egress a/e: MeshConfig featureFlags.enableEgressPolicy is off; Egress ignored"}},
		{name: "TLS_AUTO leaves the versions to Envoy", doc: meshConfig(", spec: {sidecar: {tlsMinProtocolVersion: TLS_AUTO, tlsMaxProtocolVersion: TLS_AUTO}}"),
			want: func() catalog.Settings {
				s := defaults
				s.TLSMinVersion, s.TLSMaxVersion = catalog.TLSAuto, catalog.TLSAuto
				return s
			}()},
		{name: "a refused TLS version takes its default", doc: meshConfig(", spec: {sidecar: {tlsMinProtocolVersion: TLSv1.3}}"), want: defaults,
			problems: []string{`MeshConfig osm-system/osm-mesh-config: spec.sidecar.tlsMinProtocolVersion: Unsupported value: "TLSv1.3"`}},
		{name: "no MeshConfig: the defaults, but neither permissive mode nor egress passthrough",
			want: func() catalog.Settings { s := defaults; s.Permissive, s.EgressPassthrough = false, false; return s }()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			docs := []string{policies}
			if tc.doc != "" {
				docs = append(docs, tc.doc)
			}
			m := build(t, docs...)
			if !reflect.DeepEqual(m.Settings, tc.want) {
				t.Errorf("settings = %+v\n     want %+v", m.Settings, tc.want)
			}
			if got := len(m.Identity(id("a", "client")).Egress) == 0; got != tc.egressOff {
				t.Errorf("Egress ignored = %v, want %v", got, tc.egressOff)
			}
			checkProblems(t, m, tc.problems)
		})
	}
}

// A MeshConfig setting Weft does not carry out is reported when set; the
// defaults are not.
func TestUnhonouredMeshConfigSettingsAreReported(t *testing.T) {
	m := build(t, `
apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec:
  sidecar: {envoyWindowsImage: envoy-windows, configResyncInterval: 30s}
  observability: {enableDebugServer: true}
  featureFlags: {enableSnapshotCacheMode: true, enableAsyncProxyServiceMapping: true}
`)
	var fields []string
	for _, p := range m.Problems {
		if p.Object.Kind == "MeshConfig" {
			fields = append(fields, p.Field)
			if p.Severity() != "warning" {
				t.Errorf("%s: an unhonoured setting is a %s, want a warning: nothing is left out", p.Field, p.Severity())
			}
		}
	}
	want := []string{"spec.sidecar.envoyWindowsImage", "spec.sidecar.configResyncInterval", "spec.observability.enableDebugServer",
		"spec.featureFlags.enableSnapshotCacheMode", "spec.featureFlags.enableAsyncProxyServiceMapping"}
	if !reflect.DeepEqual(fields, want) {
		t.Errorf("reported %v, want %v", fields, want)
	}
	if quiet := build(t, `
apiVersion: config.openservicemesh.io/v1alpha2
kind: MeshConfig
metadata: {name: osm-mesh-config, namespace: osm-system}
spec: {}
`); len(quiet.Problems) != 0 {
		t.Errorf("a MeshConfig of defaults reports %v", quiet.Problems)
	}
}
