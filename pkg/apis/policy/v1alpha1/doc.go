// Package v1alpha1 holds OSM's policy.openservicemesh.io/v1alpha1 kinds:
// IngressBackend, Egress, UpstreamTrafficSetting and Retry.
//
// +kubebuilder:object:generate=true
// +groupName=policy.openservicemesh.io
package v1alpha1
