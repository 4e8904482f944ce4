package ca

import (
	"fmt"
	"net/url"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// DefaultTrustDomain is the trust domain when none is configured.
const DefaultTrustDomain = "cluster.local"

// Identity is a mesh identity: a Kubernetes service account.
type Identity struct {
	Namespace      string
	ServiceAccount string
}

// String returns "<namespace>/<serviceaccount>", the form used in SDS names
// such as service-cert:<ns>/<sa>.
func (id Identity) String() string { return id.Namespace + "/" + id.ServiceAccount }

// CommonName returns "<serviceaccount>.<namespace>.<trustDomain>", the CN and
// DNS SAN of the identity's service certificate (as OSM named it).
func (id Identity) CommonName(trustDomain string) string {
	return id.ServiceAccount + "." + id.Namespace + "." + trustDomain
}

// SPIFFEID returns spiffe://<trustDomain>/ns/<namespace>/sa/<serviceaccount>.
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

// ValidateTrustDomain reports whether td can be a trust domain: a lower-case
// DNS name, as SPIFFE requires.
func ValidateTrustDomain(td string) error {
	if errs := validation.IsDNS1123Subdomain(td); len(errs) > 0 {
		return fmt.Errorf("trust domain %q: %s", td, strings.Join(errs, "; "))
	}
	return nil
}
