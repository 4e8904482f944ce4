// Package v1alpha2 holds OSM's config.openservicemesh.io/v1alpha2 MeshConfig: the
// mesh-wide settings users edit live with kubectl.
//
// +kubebuilder:object:generate=true
// +groupName=config.openservicemesh.io
package v1alpha2
