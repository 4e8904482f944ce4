package catalog

import (
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/mesh"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// settingsFrom reads the mesh configuration and the MeshConfig into the typed
// settings the generator reads, and the feature flags the catalog reads. Only
// what the generator reads goes into Settings, so that a MeshConfig edit
// nothing but the injector reads (the sidecar's log level or image) changes no
// identity's hash. What the MeshConfig omits holds its default already
// (decoding applies configv1alpha2.DefaultSpec); without a MeshConfig,
// configv1alpha2.SpecOrDefault decides. A setting rules.MeshConfig refuses is
// a problem and is ignored (a TLS version then takes its default). The
// catalog reads nothing else the rule checks, and never skips the whole
// MeshConfig, which would turn permissive mode and the feature flags back to
// their defaults.
func (b *builder) settingsFrom(cfg mesh.Config, mc *configv1alpha2.MeshConfig) (Settings, configv1alpha2.FeatureFlags) {
	s := Settings{TrustDomain: cfg.TrustDomain, ClusterDomain: cfg.ClusterDomain}
	spec := configv1alpha2.SpecOrDefault(mc)
	if mc != nil {
		obj := ObjectRef{"MeshConfig", mc.Namespace, mc.Name}
		defaults := configv1alpha2.DefaultSpec().Sidecar
		for _, e := range rules.MeshConfig(mc) {
			b.problems = append(b.problems, Problem{Object: obj, Field: e.Field, Reason: e.ErrorBody(), Skipped: "setting ignored"})
			switch e.Field {
			case "spec.sidecar.tlsMinProtocolVersion":
				spec.Sidecar.TLSMinProtocolVersion = defaults.TLSMinProtocolVersion
			case "spec.sidecar.tlsMaxProtocolVersion":
				spec.Sidecar.TLSMaxProtocolVersion = defaults.TLSMaxProtocolVersion
			}
		}
		if !spec.FeatureFlags.EnableIngressBackendPolicy {
			b.problems.add(obj, "spec.featureFlags.enableIngressBackendPolicy",
				"false is not honoured: IngressBackends always apply, as in OSM v1.2, which never read this flag")
		}
	}
	s.TLSMinVersion, s.TLSMaxVersion = tlsVersion(spec.Sidecar.TLSMinProtocolVersion), tlsVersion(spec.Sidecar.TLSMaxProtocolVersion)
	s.Permissive = spec.Traffic.EnablePermissiveTrafficPolicyMode
	s.EgressPassthrough = spec.Traffic.EnableEgress
	return s, spec.FeatureFlags
}

// tlsVersion reads a MeshConfig TLS version; anything else is TLSAuto.
func tlsVersion(v configv1alpha2.TLSProtocolVersion) TLSVersion {
	switch v {
	case "TLSv1_0":
		return TLSv1_0
	case "TLSv1_1":
		return TLSv1_1
	case "TLSv1_2":
		return TLSv1_2
	case "TLSv1_3":
		return TLSv1_3
	}
	return TLSAuto
}
