package v1alpha2

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// DefaultMeshConfigName is the MeshConfig a mesh reads, in its own namespace.
const DefaultMeshConfigName = "osm-mesh-config"

// MeshConfig is the mesh-wide configuration, named osm-mesh-config in the mesh's
// namespace. Field names and shapes are OSM v1.2's.
//
// +kubebuilder:object:root=true
// +kubebuilder:resource:shortName=meshconfig,scope=Namespaced
// +kubebuilder:storageversion
type MeshConfig struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the mesh configuration. A field or section it omits takes
	// OSM v1.2's default.
	// +kubebuilder:default={}
	// +optional
	Spec MeshConfigSpec `json:"spec,omitempty"`
}

// MeshConfigList is a list of MeshConfigs.
//
// +kubebuilder:object:root=true
type MeshConfigList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []MeshConfig `json:"items"`
}

// MeshConfigSpec groups the mesh settings by concern.
type MeshConfigSpec struct {
	// Sidecar configures the injected Envoy sidecar.
	// +kubebuilder:default={}
	// +optional
	Sidecar SidecarSpec `json:"sidecar,omitempty"`
	// Traffic configures traffic policy and redirection.
	// +kubebuilder:default={}
	// +optional
	Traffic TrafficSpec `json:"traffic,omitempty"`
	// Observability configures logs, the debug server and tracing.
	// +kubebuilder:default={}
	// +optional
	Observability ObservabilitySpec `json:"observability,omitempty"`
	// Certificate configures the certificates the mesh issues.
	// +kubebuilder:default={}
	// +optional
	Certificate CertificateSpec `json:"certificate,omitempty"`
	// FeatureFlags switches optional features on or off.
	// +kubebuilder:default={}
	// +optional
	FeatureFlags FeatureFlags `json:"featureFlags,omitempty"`
}

// LocalProxyMode says which address the sidecar uses to reach the local app.
// +kubebuilder:validation:Enum=Localhost;PodIP
type LocalProxyMode string

const (
	// LocalProxyModeLocalhost proxies to the app on 127.0.0.1.
	LocalProxyModeLocalhost LocalProxyMode = "Localhost"
	// LocalProxyModePodIP proxies to the app on the pod's IP.
	LocalProxyModePodIP LocalProxyMode = "PodIP"
)

// TLSProtocolVersion is a TLS version as Envoy names it.
// +kubebuilder:validation:Enum=TLS_AUTO;TLSv1_0;TLSv1_1;TLSv1_2;TLSv1_3
type TLSProtocolVersion string

// SidecarSpec configures the injected Envoy sidecar.
type SidecarSpec struct {
	// EnablePrivilegedInitContainer runs the init container privileged, for
	// platforms where NET_ADMIN alone cannot install redirection rules.
	// +kubebuilder:default=false
	// +optional
	EnablePrivilegedInitContainer bool `json:"enablePrivilegedInitContainer,omitempty"`
	// LogLevel is Envoy's log level.
	// +kubebuilder:validation:Enum=trace;debug;info;warning;warn;error;critical;off
	// +kubebuilder:default=error
	// +optional
	LogLevel string `json:"logLevel,omitempty"`
	// EnvoyImage is the sidecar image.
	// +optional
	EnvoyImage string `json:"envoyImage,omitempty"`
	// EnvoyWindowsImage is the sidecar image for Windows nodes.
	// +optional
	EnvoyWindowsImage string `json:"envoyWindowsImage,omitempty"`
	// InitContainerImage is the image of the init container that installs the
	// traffic redirection rules.
	// +optional
	InitContainerImage string `json:"initContainerImage,omitempty"`
	// MaxDataPlaneConnections caps the proxies connected to the control plane; 0
	// means no cap.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:default=0
	// +optional
	MaxDataPlaneConnections int `json:"maxDataPlaneConnections,omitempty"`
	// ConfigResyncInterval is how often the full configuration is recomputed even
	// without a change, as a duration such as "30s"; "0s" disables it.
	// +kubebuilder:default="0s"
	// +optional
	ConfigResyncInterval string `json:"configResyncInterval,omitempty"`
	// Resources are the sidecar container's resource requirements.
	// +optional
	Resources corev1.ResourceRequirements `json:"resources,omitempty"`
	// TLSMinProtocolVersion is the lowest TLS version sidecars accept.
	// +kubebuilder:default=TLSv1_2
	// +optional
	TLSMinProtocolVersion TLSProtocolVersion `json:"tlsMinProtocolVersion,omitempty"`
	// TLSMaxProtocolVersion is the highest TLS version sidecars accept.
	// +kubebuilder:default=TLSv1_3
	// +optional
	TLSMaxProtocolVersion TLSProtocolVersion `json:"tlsMaxProtocolVersion,omitempty"`
	// CipherSuites are the TLS cipher suites sidecars accept (TLS 1.2 and below).
	// +optional
	CipherSuites []string `json:"cipherSuites,omitempty"`
	// ECDHCurves are the ECDH curves sidecars accept.
	// +optional
	ECDHCurves []string `json:"ecdhCurves,omitempty"`
	// LocalProxyMode says how the sidecar reaches the local app.
	// +kubebuilder:default=Localhost
	// +optional
	LocalProxyMode LocalProxyMode `json:"localProxyMode,omitempty"`
}

// TrafficSpec configures traffic policy and redirection.
type TrafficSpec struct {
	// OutboundIPRangeExclusionList lists CIDRs whose outbound traffic bypasses the sidecar.
	// +optional
	OutboundIPRangeExclusionList []string `json:"outboundIPRangeExclusionList,omitempty"`
	// OutboundIPRangeInclusionList, when set, limits outbound redirection to these CIDRs.
	// +optional
	OutboundIPRangeInclusionList []string `json:"outboundIPRangeInclusionList,omitempty"`
	// OutboundPortExclusionList lists destination ports that bypass the sidecar.
	// +optional
	OutboundPortExclusionList []Port `json:"outboundPortExclusionList,omitempty"`
	// InboundPortExclusionList lists local ports whose inbound traffic bypasses the sidecar.
	// +optional
	InboundPortExclusionList []Port `json:"inboundPortExclusionList,omitempty"`
	// EnableEgress lets meshed workloads reach destinations outside the mesh
	// without an Egress policy.
	// +kubebuilder:default=true
	// +optional
	EnableEgress bool `json:"enableEgress"`
	// EnablePermissiveTrafficPolicyMode lets every mesh identity reach every
	// service, ignoring SMI access policies.
	// +kubebuilder:default=true
	// +optional
	EnablePermissiveTrafficPolicyMode bool `json:"enablePermissiveTrafficPolicyMode"`
	// InboundExternalAuthorization sends inbound requests to an external
	// authorization service.
	// +kubebuilder:default={}
	// +optional
	InboundExternalAuthorization ExternalAuthzSpec `json:"inboundExternalAuthorization,omitempty"`
	// NetworkInterfaceExclusionList lists interfaces whose traffic is not redirected.
	// +optional
	NetworkInterfaceExclusionList []string `json:"networkInterfaceExclusionList,omitempty"`
}

// Port is a TCP or UDP port number.
// +kubebuilder:validation:Minimum=1
// +kubebuilder:validation:Maximum=65535
type Port int

// ExternalAuthzSpec configures an external authorization service for inbound traffic.
type ExternalAuthzSpec struct {
	// Enable turns external authorization on.
	// +optional
	Enable bool `json:"enable,omitempty"`
	// Address is the authorization service's host name or IP.
	// +optional
	Address string `json:"address,omitempty"`
	// Port is the authorization service's port.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port uint16 `json:"port,omitempty"`
	// StatPrefix prefixes the authorization filter's statistics.
	// +kubebuilder:default=inboundExtAuthz
	// +optional
	StatPrefix string `json:"statPrefix,omitempty"`
	// Timeout bounds each authorization call, as a duration such as "1s".
	// +kubebuilder:default="1s"
	// +optional
	Timeout string `json:"timeout,omitempty"`
	// FailureModeAllow lets requests through when the service cannot be reached.
	// +optional
	FailureModeAllow bool `json:"failureModeAllow,omitempty"`
}

// ObservabilitySpec configures the control plane's logs, debug server and tracing.
type ObservabilitySpec struct {
	// OSMLogLevel is the control plane's log level.
	// +kubebuilder:validation:Enum=trace;debug;info;warn;error;fatal;panic;disabled
	// +kubebuilder:default=info
	// +optional
	OSMLogLevel string `json:"osmLogLevel,omitempty"`
	// EnableDebugServer serves the control plane's debug endpoints.
	// +kubebuilder:default=false
	// +optional
	EnableDebugServer bool `json:"enableDebugServer,omitempty"`
	// Tracing configures distributed tracing from the sidecars.
	// +kubebuilder:default={}
	// +optional
	Tracing TracingSpec `json:"tracing,omitempty"`
}

// TracingSpec configures where sidecars send traces.
type TracingSpec struct {
	// Enable turns tracing on.
	// +kubebuilder:default=false
	// +optional
	Enable bool `json:"enable,omitempty"`
	// Address is the tracing collector's host name.
	// +optional
	Address string `json:"address,omitempty"`
	// Port is the tracing collector's port.
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`
	// Endpoint is the collector's API path, such as /api/v2/spans.
	// +optional
	Endpoint string `json:"endpoint,omitempty"`
}

// CertificateSpec configures the certificates the mesh issues.
type CertificateSpec struct {
	// ServiceCertValidityDuration is how long service certificates are valid, as a
	// duration such as "24h".
	// +kubebuilder:default="24h"
	// +optional
	ServiceCertValidityDuration string `json:"serviceCertValidityDuration,omitempty"`
	// CertKeyBitSize, when set, makes the CA issue RSA keys of this size instead of
	// ECDSA P-256 keys.
	// +kubebuilder:validation:Enum=2048;3072;4096
	// +optional
	CertKeyBitSize int `json:"certKeyBitSize,omitempty"`
	// IngressGateway, when set, makes the CA keep a client certificate for an
	// ingress controller in a Secret, so the controller can speak mTLS to the mesh.
	// +optional
	IngressGateway *IngressGatewayCertSpec `json:"ingressGateway,omitempty"`
}

// IngressGatewayCertSpec describes the ingress controller's client certificate.
type IngressGatewayCertSpec struct {
	// SubjectAltNames are the certificate's DNS SANs; the first is also its CN.
	// +kubebuilder:validation:MinItems=1
	SubjectAltNames []string `json:"subjectAltNames"`
	// ValidityDuration is how long the certificate is valid, as a duration such as "24h".
	ValidityDuration string `json:"validityDuration"`
	// Secret is where the certificate is kept, as a kubernetes.io/tls Secret.
	Secret corev1.SecretReference `json:"secret"`
}

// FeatureFlags switches optional features on or off.
type FeatureFlags struct {
	// EnableWASMStats adds WASM-based statistics to sidecars.
	// +kubebuilder:default=true
	// +optional
	EnableWASMStats bool `json:"enableWASMStats"`
	// EnableEgressPolicy turns on Egress policies.
	// +kubebuilder:default=true
	// +optional
	EnableEgressPolicy bool `json:"enableEgressPolicy"`
	// EnableSnapshotCacheMode serves configuration from a snapshot cache.
	// +kubebuilder:default=false
	// +optional
	EnableSnapshotCacheMode bool `json:"enableSnapshotCacheMode,omitempty"`
	// EnableAsyncProxyServiceMapping maps proxies to services asynchronously.
	// +kubebuilder:default=false
	// +optional
	EnableAsyncProxyServiceMapping bool `json:"enableAsyncProxyServiceMapping,omitempty"`
	// EnableIngressBackendPolicy is OSM's switch, which OSM v1.2 never read:
	// IngressBackend policies apply whatever it says.
	// +kubebuilder:default=true
	// +optional
	EnableIngressBackendPolicy bool `json:"enableIngressBackendPolicy"`
	// EnableEnvoyActiveHealthChecks turns on Envoy active health checks.
	// +kubebuilder:default=false
	// +optional
	EnableEnvoyActiveHealthChecks bool `json:"enableEnvoyActiveHealthChecks,omitempty"`
	// EnableRetryPolicy turns on Retry policies.
	// +kubebuilder:default=false
	// +optional
	EnableRetryPolicy bool `json:"enableRetryPolicy,omitempty"`
}
