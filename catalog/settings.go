package catalog

import (
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// defaultFeatures are OSM v1.2's defaults, used when there is no MeshConfig.
var defaultFeatures = configv1alpha2.FeatureFlags{
	EnableEgressPolicy:         true,
	EnableIngressBackendPolicy: true,
}

func settingsFrom(mc *configv1alpha2.MeshConfig) Settings {
	s := Settings{TrustDomain: ClusterDomain, Features: defaultFeatures}
	if mc == nil {
		return s
	}
	s.MeshConfig = mc.Spec
	s.Permissive = mc.Spec.Traffic.EnablePermissiveTrafficPolicyMode
	s.EgressPassthrough = mc.Spec.Traffic.EnableEgress
	s.Features = mc.Spec.FeatureFlags
	return s
}
