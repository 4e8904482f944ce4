package v1alpha1

import (
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Retry sets the retry policy a source identity applies to its destinations.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=retry,scope=Namespaced
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.currentStatus`
type Retry struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec is the source, its destinations and the policy.
	Spec RetrySpec `json:"spec"`
	// Status is the control plane's verdict on the policy.
	// +optional
	Status PolicyStatus `json:"status,omitempty"`
}

// RetryList is a list of Retries.
//
// +kubebuilder:object:root=true
type RetryList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Retry `json:"items"`
}

// RetrySpec is who retries, toward what, and how.
type RetrySpec struct {
	// Source is the service account whose requests are retried.
	Source RetrySrcDstSpec `json:"source"`
	// Destinations are the services the policy applies to.
	// +kubebuilder:validation:MinItems=1
	Destinations []RetrySrcDstSpec `json:"destinations"`
	// RetryPolicy is how requests are retried.
	RetryPolicy RetryPolicySpec `json:"retryPolicy"`
}

// RetrySrcDstSpec names a service account (source) or a service (destination).
type RetrySrcDstSpec struct {
	// Kind is ServiceAccount for the source, Service for a destination.
	// +kubebuilder:validation:Enum=ServiceAccount;Service
	Kind string `json:"kind"`
	// Name is the object's name.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Namespace is the object's namespace.
	// +kubebuilder:validation:MinLength=1
	Namespace string `json:"namespace"`
}

// RetryPolicySpec is how requests are retried, in Envoy's terms.
type RetryPolicySpec struct {
	// RetryOn lists Envoy retry conditions, comma separated, such as "5xx,reset".
	// +kubebuilder:validation:MinLength=1
	RetryOn string `json:"retryOn"`
	// PerTryTimeout bounds each attempt.
	// +optional
	PerTryTimeout *metav1.Duration `json:"perTryTimeout,omitempty"`
	// NumRetries caps the retries of one request.
	// +optional
	NumRetries *uint32 `json:"numRetries,omitempty"`
	// RetryBackoffBaseInterval is the base of the exponential backoff between retries.
	// +optional
	RetryBackoffBaseInterval *metav1.Duration `json:"retryBackoffBaseInterval,omitempty"`
}
