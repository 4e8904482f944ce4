package ca_test

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/weft-mesh/weft/ca"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/validation"
)

func meshConfig(c configv1alpha2.CertificateSpec) *configv1alpha2.MeshConfig {
	m := &configv1alpha2.MeshConfig{Spec: configv1alpha2.MeshConfigSpec{Certificate: c}}
	m.Namespace, m.Name = "weft-system", "osm-mesh-config"
	return m
}

func TestSettingsFromMeshConfig(t *testing.T) {
	tests := []struct {
		name    string
		mc      *configv1alpha2.MeshConfig
		want    ca.Settings
		wantErr string
	}{
		{"no MeshConfig gives 24h ECDSA certificates", nil, ca.Settings{ServiceValidity: ca.DefaultServiceValidity}, ""},
		{"an empty section gives the defaults", meshConfig(configv1alpha2.CertificateSpec{}), ca.Settings{ServiceValidity: ca.DefaultServiceValidity}, ""},
		{"serviceCertValidityDuration sets the lifetime", meshConfig(configv1alpha2.CertificateSpec{ServiceCertValidityDuration: "1h"}), ca.Settings{ServiceValidity: time.Hour}, ""},
		{"certKeyBitSize switches to RSA", meshConfig(configv1alpha2.CertificateSpec{CertKeyBitSize: 3072}), ca.Settings{ServiceValidity: ca.DefaultServiceValidity, Key: ca.KeySpec{RSABits: 3072}}, ""},
		{"a bad duration names the MeshConfig and the field", meshConfig(configv1alpha2.CertificateSpec{ServiceCertValidityDuration: "a day"}), ca.Settings{},
			`MeshConfig weft-system/osm-mesh-config: spec.certificate.serviceCertValidityDuration: Invalid value: "a day": must be a duration such as "24h" or "90s"`},
		{"an odd key size names the field", meshConfig(configv1alpha2.CertificateSpec{CertKeyBitSize: 1024}), ca.Settings{},
			"MeshConfig weft-system/osm-mesh-config: spec.certificate.certKeyBitSize: Unsupported value: 1024"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ca.SettingsFromMeshConfig(tt.mc)
			if tt.wantErr != "" {
				if err == nil || !contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("SettingsFromMeshConfig = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

// A certificate shorter than ca.MinValidity would be due about as soon as it
// is issued. The CA and admission apply the one rule, with one message.
func TestValidityBelowTheMinimumIsRefusedEverywhere(t *testing.T) {
	tests := []struct {
		name     string
		validity string
		wantErr  string
	}{
		{"exactly one minute is accepted", "1m", ""},
		{"59s is refused", "59s", `spec.certificate.serviceCertValidityDuration: Invalid value: "59s": must be at least 1m0s`},
		{"2s is refused", "2s", `spec.certificate.serviceCertValidityDuration: Invalid value: "2s": must be at least 1m0s`},
		{"1ns is refused", "1ns", `spec.certificate.serviceCertValidityDuration: Invalid value: "1ns": must be at least 1m0s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mc := meshConfig(configv1alpha2.CertificateSpec{ServiceCertValidityDuration: tt.validity})
			check := func(what string, err error) {
				t.Helper()
				switch {
				case tt.wantErr == "" && err != nil:
					t.Errorf("%s: %v, want it accepted", what, err)
				case tt.wantErr != "" && (err == nil || !contains(err.Error(), tt.wantErr)):
					t.Errorf("%s: error = %v, want one containing %q", what, err, tt.wantErr)
				}
			}
			_, err := ca.SettingsFromMeshConfig(mc)
			check("SettingsFromMeshConfig", err)
			check("the admission webhook's MeshConfig rule", validation.MeshConfig(mc).ToAggregate())

			f := newFixture(t, ca.Options{})
			before := f.manager.Settings()
			err = f.manager.ApplyMeshConfig(mc)
			check("ApplyMeshConfig", err)
			if err != nil && f.manager.Settings() != before {
				t.Errorf("settings after a refused MeshConfig = %+v, want the current %+v", f.manager.Settings(), before)
			}
			d, _ := time.ParseDuration(tt.validity)
			check("UpdateSettings", f.manager.UpdateSettings(ca.Settings{ServiceValidity: d}))
			check("Settings.Validate", ca.Settings{ServiceValidity: d}.Validate())
		})
	}
	t.Run("the ingress gateway's validityDuration follows the same rule", func(t *testing.T) {
		mc := meshConfig(configv1alpha2.CertificateSpec{IngressGateway: &configv1alpha2.IngressGatewayCertSpec{
			SubjectAltNames: []string{"gw.ingress.cluster.local"}, ValidityDuration: "30s", Secret: corev1.SecretReference{Name: "gw"},
		}})
		want := `spec.certificate.ingressGateway.validityDuration: Invalid value: "30s": must be at least 1m0s`
		for what, err := range map[string]error{
			"ca.ValidateMeshConfig":                   ca.ValidateMeshConfig(mc).ToAggregate(),
			"the admission webhook's MeshConfig rule": validation.MeshConfig(mc).ToAggregate(),
		} {
			if err == nil || err.Error() != want {
				t.Errorf("%s: error = %v, want %q", what, err, want)
			}
		}
	})
	t.Run("a proxy validity below the minimum is refused", func(t *testing.T) {
		if _, err := ca.NewManager(ca.Options{Signer: newFixture(t, ca.Options{}).authority, TrustDomain: identity.DefaultTrustDomain, Settings: ca.Settings{ProxyValidity: 2 * time.Second}}); err == nil || !contains(err.Error(), "must be at least 1m0s") {
			t.Errorf("NewManager error = %v, want the minimum named", err)
		}
	})
}

// Renewal counts a certificate's lifetime from its issue, not from the
// backdated NotBefore: at the minimum validity, nothing is due right after
// issue, even when renewal starts early in the lifetime.
func TestAShortCertificateIsNotDueWhenIssued(t *testing.T) {
	tests := []struct {
		name string
		opts ca.Options
	}{
		{"at the default renewal share", ca.Options{}},
		{"when renewing with 60% to 90% of the lifetime left", ca.Options{RenewWhenRemaining: 0.6, Jitter: 0.3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opts.Settings = ca.Settings{ServiceValidity: ca.MinValidity}
			f := newFixture(t, tt.opts)
			ctx := context.Background()
			issuedAt := f.clock.Now()
			c, err := f.manager.ServiceCertificate(ctx, bookbuyer)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := f.manager.RenewDue(ctx); n != 0 || err != nil {
				t.Fatalf("RenewDue right after issue = %d, %v; want nothing reissued (renewal at %s, issued at %s)", n, err, c.RenewAt, issuedAt)
			}
			if lifetime, early := c.NotAfter.Sub(issuedAt), c.NotAfter.Sub(c.RenewAt); early > time.Duration(0.91*float64(lifetime)) {
				t.Errorf("renews %s before expiry, more than the configured share of a %s lifetime", early, lifetime)
			}
			if got := f.manager.RenewalTime(c.Leaf); !got.Equal(c.RenewAt) {
				t.Errorf("RenewalTime(leaf) = %s, want the certificate's RenewAt %s", got, c.RenewAt)
			}
		})
	}
}
