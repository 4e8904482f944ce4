package v1alpha2

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TrafficSplit divides the traffic sent to a root service among backend services.
//
// +kubebuilder:object:root=true
type TrafficSplit struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec TrafficSplitSpec `json:"spec"`
}

// TrafficSplitList is a list of TrafficSplits.
//
// +kubebuilder:object:root=true
type TrafficSplitList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []TrafficSplit `json:"items"`
}

// TrafficSplitSpec is the root service and its weighted backends.
type TrafficSplitSpec struct {
	// Service is the root service: "name", "name.namespace" or its full DNS name.
	Service string `json:"service"`
	// Backends receive the root service's traffic in proportion to their weights.
	Backends []TrafficSplitBackend `json:"backends"`
	// Matches optionally restrict the split to some routes.
	Matches []corev1.TypedLocalObjectReference `json:"matches,omitempty"`
}

// TrafficSplitBackend is one backend service and its relative weight.
type TrafficSplitBackend struct {
	// Service is the backend service's name, in the split's namespace.
	Service string `json:"service"`
	// Weight is relative to the other backends' weights: an integer or a quantity
	// such as "500m".
	Weight resource.Quantity `json:"weight"`
}
