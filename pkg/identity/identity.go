// Package identity owns the mesh's one notion of a workload identity: a
// Kubernetes service account, the names its certificates carry in a trust
// domain (<sa>.<ns>.<td> and spiffe://<td>/ns/<ns>/sa/<sa>), and which
// service account a pod runs as. The CA issues certificates with these names,
// the generator authorises and verifies peers by them, and the injector and
// the xDS server derive proxies from pods with them: every part calls this
// package rather than writing a name format of its own.
//
// It is a leaf: it imports the standard library, Kubernetes' Pod type and
// apimachinery's name validation, and nothing of Weft.
package identity

import (
	"cmp"
	"fmt"
	"net/url"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultTrustDomain is OSM's trust domain. Only the mesh configuration's
// defaults (pkg/mesh) use it; every other part is handed the configured one.
const DefaultTrustDomain = "cluster.local"

// DefaultServiceAccount is the service account of a pod that names none, as
// the API server fills it in.
const DefaultServiceAccount = "default"

// Identity is a mesh identity: a Kubernetes service account.
type Identity struct {
	Namespace      string
	ServiceAccount string
}

// FromPod returns the identity a pod runs as: its namespace and its
// serviceAccountName, else the deprecated serviceAccount, else "default".
func FromPod(pod *corev1.Pod) Identity {
	return Identity{Namespace: pod.Namespace, ServiceAccount: cmp.Or(pod.Spec.ServiceAccountName,
		pod.Spec.DeprecatedServiceAccount, DefaultServiceAccount)}
}

// String returns "<namespace>/<serviceaccount>", the form used in SDS names
// such as service-cert:<ns>/<sa>.
func (id Identity) String() string { return id.Namespace + "/" + id.ServiceAccount }

// CommonName returns "<serviceaccount>.<namespace>.<trustDomain>", the CN and
// DNS SAN of the identity's service certificate (as OSM named it), and the
// principal name RBAC policies admit.
func (id Identity) CommonName(trustDomain string) string {
	return id.ServiceAccount + "." + id.Namespace + "." + trustDomain
}

// SPIFFEID returns spiffe://<trustDomain>/ns/<namespace>/sa/<serviceaccount>,
// the URI SAN of the identity's service certificate.
func (id Identity) SPIFFEID(trustDomain string) *url.URL {
	return &url.URL{Scheme: "spiffe", Host: trustDomain, Path: "/ns/" + id.Namespace + "/sa/" + id.ServiceAccount}
}

// Validate reports whether the namespace and service account are valid
// Kubernetes names.
func (id Identity) Validate() error {
	if errs := validation.IsDNS1123Label(id.Namespace); len(errs) > 0 {
		return fmt.Errorf("identity %q: namespace: %s", id, strings.Join(errs, "; "))
	}
	if errs := validation.IsDNS1123Subdomain(id.ServiceAccount); len(errs) > 0 {
		return fmt.Errorf("identity %q: service account: %s", id, strings.Join(errs, "; "))
	}
	return nil
}

// Compare orders identities by namespace, then service account.
func Compare(a, b Identity) int {
	return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.ServiceAccount, b.ServiceAccount))
}

// ValidateTrustDomain reports whether td can be a trust domain: a lower-case
// DNS name, as SPIFFE requires.
func ValidateTrustDomain(td string) error {
	if errs := validation.IsDNS1123Subdomain(td); len(errs) > 0 {
		return fmt.Errorf("trust domain %q: %s", td, strings.Join(errs, "; "))
	}
	return nil
}
