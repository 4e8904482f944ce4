package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// UpstreamTrafficSetting sets connection limits and rate limits for one service host.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=upstreamtrafficsetting,scope=Namespaced
// +kubebuilder:printcolumn:name="Host",type=string,JSONPath=`.spec.host`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.currentStatus`
type UpstreamTrafficSetting struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the host and its settings.
	Spec UpstreamTrafficSettingSpec `json:"spec"`
	// Status is the control plane's verdict on the policy.
	// +optional
	Status PolicyStatus `json:"status,omitempty"`
}

// UpstreamTrafficSettingList is a list of UpstreamTrafficSettings.
//
// +kubebuilder:object:root=true
type UpstreamTrafficSettingList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []UpstreamTrafficSetting `json:"items"`
}

// UpstreamTrafficSettingSpec is the settings for one host.
type UpstreamTrafficSettingSpec struct {
	// Host is the service's fully qualified name, such as bookstore.bookstore.svc.cluster.local.
	// +kubebuilder:validation:MinLength=1
	Host string `json:"host"`
	// ConnectionSettings are circuit-breaking limits.
	// +optional
	ConnectionSettings *ConnectionSettingsSpec `json:"connectionSettings,omitempty"`
	// RateLimit limits connections or requests to the host.
	// +optional
	RateLimit *RateLimitSpec `json:"rateLimit,omitempty"`
	// HTTPRoutes set rate limits per HTTP path.
	// +optional
	HTTPRoutes []HTTPRouteSpec `json:"httpRoutes,omitempty"`
}

// ConnectionSettingsSpec are circuit-breaking limits.
type ConnectionSettingsSpec struct {
	// TCP limits TCP connections.
	// +optional
	TCP *TCPConnectionSettings `json:"tcp,omitempty"`
	// HTTP limits HTTP requests.
	// +optional
	HTTP *HTTPConnectionSettings `json:"http,omitempty"`
}

// TCPConnectionSettings limits TCP connections.
type TCPConnectionSettings struct {
	// MaxConnections caps connections to all the host's endpoints.
	// +optional
	MaxConnections *uint32 `json:"maxConnections,omitempty"`
	// ConnectTimeout bounds connection establishment.
	// +optional
	ConnectTimeout *metav1.Duration `json:"connectTimeout,omitempty"`
}

// HTTPConnectionSettings limits HTTP requests.
type HTTPConnectionSettings struct {
	// MaxRequests caps parallel requests.
	// +optional
	MaxRequests *uint32 `json:"maxRequests,omitempty"`
	// MaxRequestsPerConnection caps requests on one connection.
	// +optional
	MaxRequestsPerConnection *uint32 `json:"maxRequestsPerConnection,omitempty"`
	// MaxPendingRequests caps requests waiting for a connection.
	// +optional
	MaxPendingRequests *uint32 `json:"maxPendingRequests,omitempty"`
	// MaxRetries caps parallel retries.
	// +optional
	MaxRetries *uint32 `json:"maxRetries,omitempty"`
}

// RateLimitSpec limits traffic to the host.
type RateLimitSpec struct {
	// Local is enforced by each receiving sidecar on its own.
	// +optional
	Local *LocalRateLimitSpec `json:"local,omitempty"`
}

// LocalRateLimitSpec is a rate limit each sidecar enforces on its own.
type LocalRateLimitSpec struct {
	// TCP limits new connections.
	// +optional
	TCP *TCPLocalRateLimitSpec `json:"tcp,omitempty"`
	// HTTP limits requests.
	// +optional
	HTTP *HTTPLocalRateLimitSpec `json:"http,omitempty"`
}

// RateLimitUnit is the period a rate limit counts over.
// +kubebuilder:validation:Enum=second;minute;hour
type RateLimitUnit string

// TCPLocalRateLimitSpec limits new TCP connections.
type TCPLocalRateLimitSpec struct {
	// Connections allowed per unit.
	Connections uint32 `json:"connections"`
	// Unit is second, minute or hour.
	Unit RateLimitUnit `json:"unit"`
	// Burst is the extra connections allowed in a burst.
	// +optional
	Burst uint32 `json:"burst,omitempty"`
}

// HTTPLocalRateLimitSpec limits HTTP requests.
type HTTPLocalRateLimitSpec struct {
	// Requests allowed per unit.
	Requests uint32 `json:"requests"`
	// Unit is second, minute or hour.
	Unit RateLimitUnit `json:"unit"`
	// Burst is the extra requests allowed in a burst.
	// +optional
	Burst uint32 `json:"burst,omitempty"`
	// ResponseStatusCode answers a limited request; default 429.
	// +kubebuilder:validation:Minimum=100
	// +kubebuilder:validation:Maximum=599
	// +optional
	ResponseStatusCode uint32 `json:"responseStatusCode,omitempty"`
	// ResponseHeadersToAdd are added to a limited request's response.
	// +optional
	ResponseHeadersToAdd []HTTPHeaderValue `json:"responseHeadersToAdd,omitempty"`
}

// HTTPHeaderValue is an HTTP header.
type HTTPHeaderValue struct {
	// Name is the header name.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Value is the header value.
	Value string `json:"value"`
}

// HTTPRouteSpec is a rate limit for one HTTP path.
type HTTPRouteSpec struct {
	// Path is a path regular expression.
	// +kubebuilder:validation:MinLength=1
	Path string `json:"path"`
	// RateLimit is the path's rate limit.
	// +optional
	RateLimit *HTTPPerRouteRateLimitSpec `json:"rateLimit,omitempty"`
}

// HTTPPerRouteRateLimitSpec is a per-path rate limit.
type HTTPPerRouteRateLimitSpec struct {
	// Local is enforced by each receiving sidecar on its own.
	// +optional
	Local *HTTPLocalRateLimitSpec `json:"local,omitempty"`
}
