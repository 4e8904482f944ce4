package catalog

import (
	"time"

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
			b.problems.warn(obj, "spec.featureFlags.enableIngressBackendPolicy",
				"false is not honoured: IngressBackends always apply, as in OSM v1.2, which never read this flag")
		}
		b.reportUnhonoured(obj, spec)
	}
	s.TLSMinVersion, s.TLSMaxVersion = tlsVersion(spec.Sidecar.TLSMinProtocolVersion), tlsVersion(spec.Sidecar.TLSMaxProtocolVersion)
	s.Permissive = spec.Traffic.EnablePermissiveTrafficPolicyMode
	s.EgressPassthrough = spec.Traffic.EnableEgress
	s.TLSCipherSuites, s.TLSECDHCurves = spec.Sidecar.CipherSuites, spec.Sidecar.ECDHCurves
	s.LocalProxyPodIP = spec.Sidecar.LocalProxyMode == configv1alpha2.LocalProxyModePodIP
	s.ActiveHealthChecks = spec.FeatureFlags.EnableEnvoyActiveHealthChecks
	if t := spec.Observability.Tracing; t.Enable {
		// OSM's defaults: Jaeger's Zipkin port in the mesh namespace.
		s.Tracing = &Tracing{Address: t.Address, Port: uint32(t.Port), Endpoint: t.Endpoint}
		if s.Tracing.Address == "" {
			s.Tracing.Address = mesh.ServiceDNSNames("jaeger", cfg.Namespace, cfg.ClusterDomain)[2]
		}
		if s.Tracing.Port == 0 {
			s.Tracing.Port = 9411
		}
		if s.Tracing.Endpoint == "" {
			s.Tracing.Endpoint = "/api/v2/spans"
		}
	}
	if a := spec.Traffic.InboundExternalAuthorization; a.Enable && a.Address != "" && a.Port != 0 {
		timeout, err := time.ParseDuration(a.Timeout)
		if err != nil || timeout <= 0 {
			timeout = time.Second
		}
		s.ExternalAuthorization = &ExternalAuthorization{Address: a.Address, Port: uint32(a.Port), StatPrefix: a.StatPrefix,
			Timeout: timeout, FailureModeAllow: a.FailureModeAllow}
		if s.ExternalAuthorization.StatPrefix == "" {
			s.ExternalAuthorization.StatPrefix = configv1alpha2.DefaultSpec().Traffic.InboundExternalAuthorization.StatPrefix
		}
	}
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

// reportUnhonoured reports each MeshConfig setting Weft does not carry out
// that is set to something other than its default, so that no setting is
// silently ignored. featureFlags.enableWASMStats is not reported: its
// default is true, which would report every MeshConfig, and sidecars' Envoy
// statistics stand in for it (docs/migration-from-osm.md lists every field).
func (b *builder) reportUnhonoured(obj ObjectRef, spec configv1alpha2.MeshConfigSpec) {
	def := configv1alpha2.DefaultSpec()
	for _, u := range []struct {
		set          bool
		field, cause string
	}{
		{spec.Sidecar.EnvoyWindowsImage != "", "spec.sidecar.envoyWindowsImage", "Windows nodes are not meshed"},
		{spec.Sidecar.ConfigResyncInterval != "" && spec.Sidecar.ConfigResyncInterval != def.Sidecar.ConfigResyncInterval,
			"spec.sidecar.configResyncInterval", "weftd pushes every change as it happens and needs no periodic resync"},
		{spec.Observability.EnableDebugServer, "spec.observability.enableDebugServer",
			"weftd always serves /debug/ on its --debug-addr (loopback by default)"},
		{spec.FeatureFlags.EnableSnapshotCacheMode, "spec.featureFlags.enableSnapshotCacheMode", "weftd always serves from snapshots"},
		{spec.FeatureFlags.EnableAsyncProxyServiceMapping, "spec.featureFlags.enableAsyncProxyServiceMapping", "weftd has no such mapping to make asynchronous"},
	} {
		if u.set {
			b.problems.warn(obj, u.field, "not honoured: %s", u.cause)
		}
	}
}
