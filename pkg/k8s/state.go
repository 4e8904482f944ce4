package k8s

import (
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s/state"
)

// MonitoredByLabel joins a namespace to a mesh: its value is the mesh's name.
const MonitoredByLabel = state.MonitoredByLabel

// State is one snapshot of the mesh's state; see package state.
type State = state.State

// Rejected is an object a source could not read; see package state.
type Rejected = state.Rejected

// Options say which mesh a source reads.
type Options struct {
	// MeshName is the value of the monitored-by label of the mesh's namespaces.
	MeshName string
	// MeshNamespace holds the MeshConfig (osm-system in OSM's tutorials).
	MeshNamespace string
	// MeshConfigName is the MeshConfig's name; empty means osm-mesh-config.
	MeshConfigName string
}

// DefaultOptions are those of OSM's tutorials: mesh "osm" in osm-system.
func DefaultOptions() Options {
	return Options{MeshName: "osm", MeshNamespace: "osm-system", MeshConfigName: configv1alpha2.DefaultMeshConfigName}
}

func (o Options) meshConfigName() string {
	if o.MeshConfigName == "" {
		return configv1alpha2.DefaultMeshConfigName
	}
	return o.MeshConfigName
}
