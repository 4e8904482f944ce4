// Package v1alpha2 holds SMI's split.smi-spec.io/v1alpha2 TrafficSplit as Weft
// reads it.
//
// smi-sdk-go types a backend's weight as an int, yet users write quantities such
// as "500m" under v1alpha2 (the CRD in manifests/crds/smi-split.yaml accepts
// both). Decoding with smi-sdk-go's type would fail on those objects, so Weft
// reads TrafficSplits with this type, whose weight is a resource.Quantity; weights
// are relative, so "500m"/"500m" and 50/50 mean the same split.
//
// +kubebuilder:object:generate=true
// +groupName=split.smi-spec.io
package v1alpha2
