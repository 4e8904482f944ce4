package rules

import (
	"k8s.io/apimachinery/pkg/util/validation/field"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// TLSVersions are the sidecars' TLS versions a MeshConfig may name, as the
// CRD's enum lists them.
var TLSVersions = []configv1alpha2.TLSProtocolVersion{"TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3"}

// MeshConfig checks the MeshConfig outside spec.certificate, which is the
// CA's to check (ca.ValidateMeshConfig; pkg/validation adds it): durations,
// the outbound IP range lists, the sidecars' TLS versions and the control
// plane's log level. The catalog
// ignores a setting at fault, never the whole MeshConfig.
func MeshConfig(mc *configv1alpha2.MeshConfig) field.ErrorList {
	var errs field.ErrorList
	s := mc.Spec
	sidecar, traffic := spec.Child("sidecar"), spec.Child("traffic")
	errs = append(errs, duration(sidecar.Child("configResyncInterval"), s.Sidecar.ConfigResyncInterval)...)
	if v := s.Sidecar.TLSMinProtocolVersion; v != "" {
		errs = append(errs, oneOf(sidecar.Child("tlsMinProtocolVersion"), v, TLSVersions...)...)
	}
	if v := s.Sidecar.TLSMaxProtocolVersion; v != "" {
		errs = append(errs, oneOf(sidecar.Child("tlsMaxProtocolVersion"), v, TLSVersions...)...)
	}
	errs = append(errs, duration(traffic.Child("inboundExternalAuthorization", "timeout"), s.Traffic.InboundExternalAuthorization.Timeout)...)
	if a := s.Traffic.InboundExternalAuthorization; a.Enable {
		ext := traffic.Child("inboundExternalAuthorization")
		if a.Address == "" {
			errs = append(errs, field.Required(ext.Child("address"), "external authorization is enabled: name its gRPC service"))
		}
		if a.Port == 0 {
			errs = append(errs, field.Required(ext.Child("port"), "external authorization is enabled: name its gRPC service's port"))
		}
	}
	if v := s.Observability.OSMLogLevel; v != "" {
		if _, ok := ControlPlaneLogLevel(v); !ok {
			errs = append(errs, field.NotSupported(spec.Child("observability", "osmLogLevel"), v, ControlPlaneLogLevels))
		}
	}
	for i, c := range s.Traffic.OutboundIPRangeExclusionList {
		errs = append(errs, cidr(traffic.Child("outboundIPRangeExclusionList").Index(i), c)...)
	}
	for i, c := range s.Traffic.OutboundIPRangeInclusionList {
		errs = append(errs, cidr(traffic.Child("outboundIPRangeInclusionList").Index(i), c)...)
	}
	return errs
}
