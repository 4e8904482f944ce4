// Package apis holds the Kubernetes API types Weft serves as CRDs: OSM's
// config.openservicemesh.io MeshConfig and policy.openservicemesh.io policies,
// kept field for field compatible with OSM v1.2 so that users' YAML keeps working.
//
// The SMI kinds are read with smi-sdk-go's types; their CRDs are hand-written in
// manifests/crds/smi-*.yaml. Packages here import only Kubernetes API machinery.
package apis
