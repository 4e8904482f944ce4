package mesh_test

import (
	"testing"

	"github.com/weft-mesh/weft/pkg/mesh"
)

func TestDefaults(t *testing.T) {
	want := mesh.Config{Name: "osm", Namespace: "osm-system", MeshConfigName: "osm-mesh-config",
		TrustDomain: "cluster.local", ClusterDomain: "cluster.local"}
	if got := mesh.Defaults(); got != want {
		t.Errorf("Defaults() = %+v, want %+v", got, want)
	}
	if err := mesh.Defaults().Validate(); err != nil {
		t.Errorf("Defaults().Validate() = %v", err)
	}
}

func TestWithDefaultsKeepsWhatIsSet(t *testing.T) {
	got := mesh.Config{TrustDomain: "example.org", Name: "m"}.WithDefaults()
	if got.TrustDomain != "example.org" || got.Name != "m" || got.Namespace != "osm-system" {
		t.Errorf("WithDefaults() = %+v", got)
	}
}

func TestValidateNamesTheField(t *testing.T) {
	c := mesh.Defaults()
	c.TrustDomain = "Example.ORG"
	if err := c.Validate(); err == nil {
		t.Error("an upper-case trust domain was accepted")
	}
	if err := (mesh.Config{}).Validate(); err == nil {
		t.Error("an empty configuration was accepted")
	}
}
