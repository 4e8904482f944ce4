package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Egress lets meshed workloads reach destinations outside the mesh.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:scope=Namespaced
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.currentStatus`
type Egress struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says who may reach what.
	Spec EgressSpec `json:"spec"`
	// Status is the control plane's verdict on the policy.
	// +optional
	Status PolicyStatus `json:"status,omitempty"`
}

// EgressList is a list of Egresses.
//
// +kubebuilder:object:root=true
type EgressList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Egress `json:"items"`
}

// EgressSpec names the sources, the external destinations and their ports.
type EgressSpec struct {
	// Sources are the service accounts allowed out.
	// +kubebuilder:validation:MinItems=1
	Sources []EgressSourceSpec `json:"sources"`
	// Hosts are external host names, matched by HTTP Host or TLS SNI.
	// +optional
	Hosts []string `json:"hosts,omitempty"`
	// IPAddresses are external CIDRs, for TCP.
	// +optional
	IPAddresses []string `json:"ipAddresses,omitempty"`
	// Ports are the destination ports and protocols.
	// +kubebuilder:validation:MinItems=1
	Ports []PortSpec `json:"ports"`
	// Matches narrow HTTP traffic by HTTPRouteGroup or attach an UpstreamTrafficSetting.
	// +optional
	Matches []corev1.TypedLocalObjectReference `json:"matches,omitempty"`
}

// EgressSourceSpec is a workload identity allowed out.
type EgressSourceSpec struct {
	// Kind is ServiceAccount.
	// +kubebuilder:validation:Enum=ServiceAccount
	Kind string `json:"kind"`
	// Name is the service account's name.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Namespace is the service account's namespace.
	// +kubebuilder:validation:MinLength=1
	Namespace string `json:"namespace"`
}
