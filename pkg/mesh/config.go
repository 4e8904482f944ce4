// Package mesh holds Config: what a control plane is started with (the mesh's
// name and namespace, the MeshConfig to read, the trust domain and the cluster
// DNS domain), with OSM's defaults applied in one place, Defaults. weftd builds
// one from its flags and `weft render` from its own; every part (the catalog,
// the CA, the xDS server, the injector, the state sources) is handed that one
// value and keeps no default of its own.
//
// It is not the MeshConfig resource (config.openservicemesh.io, package
// pkg/apis/config/v1alpha2), which the mesh's operators edit at run time and
// which names the settings read from the cluster; Config says which
// MeshConfig to read.
//
// It is a leaf: it imports pkg/identity (the default trust domain and its
// validation), the MeshConfig resource's default name and apimachinery's
// name validation, and nothing that runs.
package mesh

import (
	"cmp"
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/util/validation"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/identity"
)

// Config is a control plane's configuration.
type Config struct {
	// Name is the mesh's name: the value of the
	// openservicemesh.io/monitored-by label of its namespaces.
	Name string
	// Namespace is where the control plane runs and the MeshConfig lives.
	Namespace string
	// MeshConfigName is the MeshConfig read in Namespace.
	MeshConfigName string
	// TrustDomain ends every identity's certificate name and is the host of
	// its SPIFFE ID.
	TrustDomain string
	// ClusterDomain is the DNS domain of the cluster's Services
	// (<svc>.<ns>.svc.<ClusterDomain>).
	ClusterDomain string
}

// OSM's defaults, as its tutorials use them.
const (
	DefaultName          = "osm"
	DefaultNamespace     = "osm-system"
	DefaultClusterDomain = "cluster.local"
)

// Defaults is the configuration of OSM's tutorials: mesh "osm" in osm-system,
// MeshConfig osm-mesh-config, trust domain and cluster domain cluster.local.
func Defaults() Config { return Config{}.WithDefaults() }

// WithDefaults returns c with every empty field set to its default. It is the
// only place the defaults are applied.
func (c Config) WithDefaults() Config {
	c.Name = cmp.Or(c.Name, DefaultName)
	c.Namespace = cmp.Or(c.Namespace, DefaultNamespace)
	c.MeshConfigName = cmp.Or(c.MeshConfigName, configv1alpha2.DefaultMeshConfigName)
	c.TrustDomain = cmp.Or(c.TrustDomain, identity.DefaultTrustDomain)
	c.ClusterDomain = cmp.Or(c.ClusterDomain, DefaultClusterDomain)
	return c
}

// Validate reports every field that is empty or malformed, naming it.
func (c Config) Validate() error {
	var errs []error
	if c.Name == "" {
		errs = append(errs, errors.New("mesh configuration: no mesh name"))
	}
	for _, f := range []struct{ name, value string }{{"mesh namespace", c.Namespace}, {"MeshConfig name", c.MeshConfigName}} {
		if msgs := validation.IsDNS1123Subdomain(f.value); len(msgs) > 0 {
			errs = append(errs, fmt.Errorf("mesh configuration: %s %q: %v", f.name, f.value, msgs))
		}
	}
	if err := identity.ValidateTrustDomain(c.TrustDomain); err != nil {
		errs = append(errs, fmt.Errorf("mesh configuration: %w", err))
	}
	if msgs := validation.IsDNS1123Subdomain(c.ClusterDomain); len(msgs) > 0 {
		errs = append(errs, fmt.Errorf("mesh configuration: cluster domain %q: %v", c.ClusterDomain, msgs))
	}
	return errors.Join(errs...)
}

// ServiceDNSNames are the names a Service is reached by in a cluster domain,
// shortest first: <name>.<namespace>, <name>.<namespace>.svc and
// <name>.<namespace>.svc.<clusterDomain>.
func ServiceDNSNames(name, namespace, clusterDomain string) [3]string {
	short := name + "." + namespace
	return [3]string{short, short + ".svc", short + ".svc." + clusterDomain}
}

// LabelProxyUUID on an injected pod (and its bootstrap Secret) names the pod's
// proxy: the <uuid> in its proxy certificate's CN. OSM's name.
const LabelProxyUUID = "osm-proxy-uuid"

// LabelMeshName on an object weftd writes outside the mesh namespace (a pod's
// bootstrap Secret) names the mesh it belongs to, so that uninstalling one
// mesh never touches another's.
const LabelMeshName = "weft.io/mesh-name"

// MutatingWebhookName and ValidatingWebhookName are the cluster-wide names of
// a mesh's webhook configurations: the sidecar injector and the policy
// validator. They carry the mesh's name so that two meshes never share one;
// the chart writes them and weftd keeps their caBundle.
func MutatingWebhookName(meshName string) string { return "weft-sidecar-injector-" + meshName }

// ValidatingWebhookName: see MutatingWebhookName.
func ValidatingWebhookName(meshName string) string { return "weft-policy-validator-" + meshName }
