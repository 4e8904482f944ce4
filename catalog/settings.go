package catalog

import (
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/mesh"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// defaultFeatures are OSM v1.2's defaults, used when there is no MeshConfig.
var defaultFeatures = configv1alpha2.FeatureFlags{
	EnableEgressPolicy:         true,
	EnableIngressBackendPolicy: true,
}

// settingsFrom reads the mesh configuration and the MeshConfig. A setting rules.MeshConfig refuses is a
// problem and is ignored: the sidecars' TLS versions are then Envoy's
// defaults. The catalog reads nothing else the rule checks, and never skips
// the whole MeshConfig, which would turn permissive mode and the feature flags
// back to their defaults.
func (b *builder) settingsFrom(cfg mesh.Config, mc *configv1alpha2.MeshConfig) Settings {
	s := Settings{TrustDomain: cfg.TrustDomain, ClusterDomain: cfg.ClusterDomain, Features: defaultFeatures}
	if mc == nil {
		return s
	}
	s.MeshConfig = mc.Spec
	obj := ObjectRef{"MeshConfig", mc.Namespace, mc.Name}
	for _, e := range rules.MeshConfig(mc) {
		b.problems = append(b.problems, Problem{Object: obj, Field: e.Field, Reason: e.ErrorBody(), Skipped: "setting ignored"})
		switch e.Field {
		case "spec.sidecar.tlsMinProtocolVersion":
			s.MeshConfig.Sidecar.TLSMinProtocolVersion = ""
		case "spec.sidecar.tlsMaxProtocolVersion":
			s.MeshConfig.Sidecar.TLSMaxProtocolVersion = ""
		}
	}
	s.Permissive = mc.Spec.Traffic.EnablePermissiveTrafficPolicyMode
	s.EgressPassthrough = mc.Spec.Traffic.EnableEgress
	s.Features = mc.Spec.FeatureFlags
	return s
}
