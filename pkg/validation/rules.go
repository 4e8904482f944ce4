package validation

import (
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/weft-mesh/weft/ca"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

var spec = field.NewPath("spec")

// MeshConfig checks a MeshConfig: the settings outside spec.certificate with
// rules.MeshConfig (the catalog's rule too), and spec.certificate with the
// CA's own rules (ca.ValidateMeshConfig) and the ingress gateway's.
func MeshConfig(mc *configv1alpha2.MeshConfig) field.ErrorList {
	errs := rules.MeshConfig(mc)
	// What the CA reads from spec.certificate is checked by the CA's own rules.
	errs = append(errs, ca.ValidateMeshConfig(mc)...)
	if gw := mc.Spec.Certificate.IngressGateway; gw != nil {
		p := spec.Child("certificate", "ingressGateway")
		if gw.Secret.Name == "" {
			errs = append(errs, field.Required(p.Child("secret", "name"), "name the Secret that keeps the ingress gateway's certificate"))
		}
		for i, san := range gw.SubjectAltNames {
			if msgs := validation.IsDNS1123Subdomain(strings.TrimPrefix(san, "*.")); len(msgs) > 0 {
				errs = append(errs, field.Invalid(p.Child("subjectAltNames").Index(i), san, "must be a DNS name"))
			}
		}
	}
	return errs
}
