package ca

import (
	"fmt"
	"time"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// DefaultServiceValidity is a service certificate's lifetime when MeshConfig
// sets none.
const DefaultServiceValidity = 24 * time.Hour

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

// Validate rejects non-positive lifetimes and unsupported key sizes.
func (s Settings) Validate() error {
	if s.ServiceValidity < 0 || s.ProxyValidity < 0 {
		return fmt.Errorf("certificate validity must be positive")
	}
	return s.Key.Validate()
}

// SettingsFromMeshConfig reads spec.certificate. An unset field takes its
// default; an invalid one gives an error naming the MeshConfig and the field.
func SettingsFromMeshConfig(mc *configv1alpha2.MeshConfig) (Settings, error) {
	s := DefaultSettings()
	if mc == nil {
		return s, nil
	}
	c := mc.Spec.Certificate
	if v := c.ServiceCertValidityDuration; v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("MeshConfig %s/%s: spec.certificate.serviceCertValidityDuration %q: want a positive duration such as 24h", mc.Namespace, mc.Name, v)
		}
		s.ServiceValidity = d
	}
	s.Key = KeySpec{RSABits: c.CertKeyBitSize}
	if err := s.Key.Validate(); err != nil {
		return DefaultSettings(), fmt.Errorf("MeshConfig %s/%s: spec.certificate.%w", mc.Namespace, mc.Name, err)
	}
	return s, nil
}
