package catalog

import (
	"cmp"

	"github.com/weft-mesh/weft/pkg/mesh"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// ServiceRef names a Service.
type ServiceRef struct {
	Namespace, Name string
}

func (s ServiceRef) String() string { return s.Namespace + "/" + s.Name }

// FQDN is the Service's DNS name in a cluster domain (Settings.ClusterDomain),
// such as bookstore.bookstore.svc.cluster.local.
func (s ServiceRef) FQDN(clusterDomain string) string {
	return mesh.ServiceDNSNames(s.Name, s.Namespace, clusterDomain)[2]
}

func compareServices(a, b ServiceRef) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
}

// ObjectRef names an input object, such as the policy a rule comes from.
type ObjectRef struct {
	Kind, Namespace, Name string
}

func (o ObjectRef) String() string {
	switch {
	case o.Name == "": // a document not read may name only its kind
		return o.Kind
	case o.Namespace == "":
		return o.Kind + " " + o.Name
	}
	return o.Kind + " " + o.Namespace + "/" + o.Name
}

// resolveService reads a service name as SMI and OSM users write it
// (rules.ServiceName): "name" (in namespace ns), "name.namespace",
// "name.namespace.svc" or the full DNS name. It reports false for an empty or
// malformed name.
func resolveService(name, ns string) (ServiceRef, bool) {
	namespace, service, ok := rules.ServiceName(name, ns)
	return ServiceRef{Namespace: namespace, Name: service}, ok
}
