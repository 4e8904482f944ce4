package v1alpha2

import (
	"encoding/json"

	kjson "sigs.k8s.io/json"
)

// DefaultSpec is the spec of a MeshConfig that omits every field: OSM v1.2's
// defaults, those of its Helm chart's preset MeshConfig and of its CRD's
// schema, except certificate.certKeyBitSize (unset: ECDSA P-256 keys, where
// OSM's chart set 2048-bit RSA). This is the one place that holds them: the
// +kubebuilder:default markers give the CRD the same values, so that the API
// server fills them in (manifests' TestMeshConfigDefaults checks the two
// agree), and every other reader gets them through UnmarshalJSON or
// SpecOrDefault.
func DefaultSpec() MeshConfigSpec {
	return MeshConfigSpec{
		Sidecar: SidecarSpec{
			LogLevel:              "error",
			ConfigResyncInterval:  "0s",
			TLSMinProtocolVersion: "TLSv1_2",
			TLSMaxProtocolVersion: "TLSv1_3",
			LocalProxyMode:        LocalProxyModeLocalhost,
		},
		Traffic: TrafficSpec{
			EnableEgress:                      true,
			EnablePermissiveTrafficPolicyMode: true,
			InboundExternalAuthorization:      ExternalAuthzSpec{StatPrefix: "inboundExtAuthz", Timeout: "1s"},
		},
		Observability: ObservabilitySpec{OSMLogLevel: "info"},
		Certificate:   CertificateSpec{ServiceCertValidityDuration: "24h"},
		FeatureFlags: FeatureFlags{
			EnableWASMStats:            true,
			EnableEgressPolicy:         true,
			EnableIngressBackendPolicy: true,
		},
	}
}

// SpecOrDefault is mc's spec or, without a MeshConfig, DefaultSpec with
// permissive mode and egress passthrough off: a mesh whose MeshConfig is
// missing (not created yet, or deleted) opens no path by itself, as OSM,
// which then read every setting as false.
func SpecOrDefault(mc *MeshConfig) MeshConfigSpec {
	if mc != nil {
		return mc.Spec
	}
	s := DefaultSpec()
	s.Traffic.EnableEgress = false
	s.Traffic.EnablePermissiveTrafficPolicyMode = false
	return s
}

// UnmarshalJSON decodes a MeshConfig onto DefaultSpec, so that what the
// document omits (a field or a whole section) keeps its default, as the
// CRD's schema defaults it in a cluster: files read without an API server
// behave as the same YAML applied to one. An explicit false stays false.
func (mc *MeshConfig) UnmarshalJSON(data []byte) error {
	type plain MeshConfig // without this method
	p := plain{Spec: DefaultSpec()}
	// Case-sensitive, as the API machinery decodes.
	if err := kjson.UnmarshalCaseSensitivePreserveInts(data, &p); err != nil {
		return err
	}
	*mc = MeshConfig(p)
	return nil
}

var _ json.Unmarshaler = (*MeshConfig)(nil)
