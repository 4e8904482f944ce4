package k8s

import (
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s/state"
	"github.com/weft-mesh/weft/pkg/mesh"
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

// OptionsFrom reads which mesh to watch from the mesh configuration.
func OptionsFrom(c mesh.Config) Options {
	return Options{MeshName: c.Name, MeshNamespace: c.Namespace, MeshConfigName: c.MeshConfigName}
}

// DefaultOptions are those of the default mesh configuration (mesh.Defaults):
// mesh "osm" in osm-system, as in OSM's tutorials.
func DefaultOptions() Options { return OptionsFrom(mesh.Defaults()) }

func (o Options) meshConfigName() string {
	if o.MeshConfigName == "" {
		return configv1alpha2.DefaultMeshConfigName
	}
	return o.MeshConfigName
}
