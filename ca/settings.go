package ca

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// DefaultServiceValidity is a service certificate's lifetime when MeshConfig
// sets none: certificate.serviceCertValidityDuration's default.
var DefaultServiceValidity = func() time.Duration {
	d, err := time.ParseDuration(configv1alpha2.DefaultSpec().Certificate.ServiceCertValidityDuration)
	if err != nil {
		panic(err)
	}
	return d
}()

// MinValidity is the shortest certificate lifetime the CA issues. Leaves are
// backdated a minute for clock skew and renewed well before expiry, so a
// shorter lifetime would make a certificate due about as soon as it is issued:
// every cached certificate would be reissued and pushed again and again.
const MinValidity = time.Minute

// Settings are the MeshConfig-controlled parameters of issued certificates.
type Settings struct {
	// ServiceValidity is a service certificate's lifetime
	// (certificate.serviceCertValidityDuration).
	ServiceValidity time.Duration
	// ProxyValidity is a proxy certificate's lifetime; 0 means ServiceValidity.
	ProxyValidity time.Duration
	// Key is the leaf key kind (certificate.certKeyBitSize).
	Key KeySpec
}

// DefaultSettings are 24-hour service and proxy certificates with ECDSA P-256 keys.
func DefaultSettings() Settings { return Settings{ServiceValidity: DefaultServiceValidity} }

func (s Settings) withDefaults() Settings {
	if s.ServiceValidity == 0 {
		s.ServiceValidity = DefaultServiceValidity
	}
	if s.ProxyValidity == 0 {
		s.ProxyValidity = s.ServiceValidity
	}
	return s
}

var certificatePath = field.NewPath("spec", "certificate")

// Validate rejects lifetimes shorter than MinValidity (zero means the
// default) and unsupported key sizes, naming the MeshConfig field of each.
func (s Settings) Validate() error {
	var errs field.ErrorList
	if s.ServiceValidity != 0 {
		errs = appendIf(errs, validateValidity(certificatePath.Child("serviceCertValidityDuration"), s.ServiceValidity, s.ServiceValidity.String()))
	}
	if s.ProxyValidity != 0 {
		// No MeshConfig field sets it; it is named as the Settings field.
		errs = appendIf(errs, validateValidity(field.NewPath("ProxyValidity"), s.ProxyValidity, s.ProxyValidity.String()))
	}
	return appendIf(errs, validateKey(s.Key)).ToAggregate()
}

// SettingsFromMeshConfig reads spec.certificate. An unset field takes its
// default; an invalid one gives an error naming the MeshConfig and the field,
// with the default settings.
func SettingsFromMeshConfig(mc *configv1alpha2.MeshConfig) (Settings, error) {
	if mc == nil {
		return DefaultSettings(), nil
	}
	s, errs := settingsFromSpec(mc.Spec.Certificate)
	if len(errs) > 0 {
		return DefaultSettings(), fmt.Errorf("MeshConfig %s/%s: %w", mc.Namespace, mc.Name, errs.ToAggregate())
	}
	return s, nil
}

// ValidateMeshConfig checks what the CA reads from MeshConfig spec.certificate:
// serviceCertValidityDuration, certKeyBitSize and ingressGateway's
// validityDuration. It is the one rule set for them: the CA applies it
// (SettingsFromMeshConfig, the ingress gateway reconciler) and the validating
// webhook calls it, so admission never accepts what the CA would refuse.
func ValidateMeshConfig(mc *configv1alpha2.MeshConfig) field.ErrorList {
	if mc == nil {
		return nil
	}
	_, errs := settingsFromSpec(mc.Spec.Certificate)
	if gw := mc.Spec.Certificate.IngressGateway; gw != nil {
		_, err := ParseValidity(certificatePath.Child("ingressGateway", "validityDuration"), gw.ValidityDuration)
		errs = appendIf(errs, err)
	}
	return errs
}

// ParseValidity reads a certificate lifetime such as "24h" from the MeshConfig
// field at p, and refuses one shorter than MinValidity.
func ParseValidity(p *field.Path, s string) (time.Duration, *field.Error) {
	if s == "" {
		return 0, field.Required(p, `set a duration such as "24h"`)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, field.Invalid(p, s, `must be a duration such as "24h" or "90s"`)
	}
	return d, validateValidity(p, d, s)
}

// validateValidity is the rule for every lifetime; shown is d as the user wrote it.
func validateValidity(p *field.Path, d time.Duration, shown string) *field.Error {
	switch {
	case d <= 0:
		return field.Invalid(p, shown, "must be positive")
	case d < MinValidity:
		return field.Invalid(p, shown, "must be at least "+MinValidity.String())
	}
	return nil
}

func validateKey(k KeySpec) *field.Error {
	if k.Validate() != nil {
		return field.NotSupported(certificatePath.Child("certKeyBitSize"), k.RSABits, []string{"2048", "3072", "4096"})
	}
	return nil
}

// settingsFromSpec reads the service validity and key size, with every error.
func settingsFromSpec(c configv1alpha2.CertificateSpec) (Settings, field.ErrorList) {
	s := DefaultSettings()
	var errs field.ErrorList
	if c.ServiceCertValidityDuration != "" {
		d, err := ParseValidity(certificatePath.Child("serviceCertValidityDuration"), c.ServiceCertValidityDuration)
		s.ServiceValidity, errs = d, appendIf(errs, err)
	}
	s.Key = KeySpec{RSABits: c.CertKeyBitSize}
	return s, appendIf(errs, validateKey(s.Key))
}

func appendIf(errs field.ErrorList, err *field.Error) field.ErrorList {
	if err != nil {
		errs = append(errs, err)
	}
	return errs
}
