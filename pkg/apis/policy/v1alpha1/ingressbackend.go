package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// IngressBackend admits traffic from an ingress controller outside the mesh to
// backends in its own namespace.
//
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=ingressbackend,scope=Namespaced
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.currentStatus`
type IngressBackend struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// Spec says which backends admit which sources.
	Spec IngressBackendSpec `json:"spec"`
	// Status is the control plane's verdict on the policy.
	// +optional
	Status PolicyStatus `json:"status,omitempty"`
}

// IngressBackendList is a list of IngressBackends.
//
// +kubebuilder:object:root=true
type IngressBackendList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []IngressBackend `json:"items"`
}

// IngressBackendSpec lists the backends and the sources allowed to reach them.
type IngressBackendSpec struct {
	// Backends are the services in this namespace that admit ingress traffic.
	// +kubebuilder:validation:MinItems=1
	Backends []BackendSpec `json:"backends"`
	// Sources are who may send the traffic.
	// +kubebuilder:validation:MinItems=1
	Sources []IngressSourceSpec `json:"sources"`
	// Matches optionally narrow the traffic by typed references such as HTTPRouteGroups.
	// +optional
	Matches []corev1.TypedLocalObjectReference `json:"matches,omitempty"`
}

// BackendSpec is one backend service port.
type BackendSpec struct {
	// Name is the backend Service's name.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Port is the backend's target port and its protocol: http, https, tcp or grpc.
	Port PortSpec `json:"port"`
	// TLS configures TLS from the ingress controller to the backend.
	// +optional
	TLS TLSSpec `json:"tls,omitempty"`
}

// TLSSpec configures TLS between the ingress controller and a backend.
type TLSSpec struct {
	// SkipClientCertValidation accepts any client certificate from the ingress controller.
	// +optional
	SkipClientCertValidation bool `json:"skipClientCertValidation"`
	// SNIHosts are the server names the backend accepts.
	// +optional
	SNIHosts []string `json:"sniHosts,omitempty"`
}

// Kinds of ingress source.
const (
	KindService                = "Service"
	KindAuthenticatedPrincipal = "AuthenticatedPrincipal"
	KindIPRange                = "IPRange"
)

// IngressSourceSpec is a source of ingress traffic.
type IngressSourceSpec struct {
	// Kind is Service (the ingress controller's Service: its endpoints' IPs),
	// AuthenticatedPrincipal (a client certificate's SAN) or IPRange (a CIDR).
	// +kubebuilder:validation:Enum=Service;AuthenticatedPrincipal;IPRange
	Kind string `json:"kind"`
	// Name is the Service name, the principal, or the CIDR.
	// +kubebuilder:validation:MinLength=1
	Name string `json:"name"`
	// Namespace is the Service's namespace, for kind Service.
	// +optional
	Namespace string `json:"namespace,omitempty"`
}
