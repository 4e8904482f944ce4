package ca_test

import (
	"testing"

	"github.com/weft-mesh/weft/ca"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

func TestIdentityNames(t *testing.T) {
	tests := []struct {
		name        string
		id          ca.Identity
		trustDomain string
		wantCN      string
		wantSPIFFE  string
	}{
		{"the default trust domain names the service account as OSM did", ca.Identity{Namespace: "bookstore", ServiceAccount: "bookbuyer"}, "cluster.local",
			"bookbuyer.bookstore.cluster.local", "spiffe://cluster.local/ns/bookstore/sa/bookbuyer"},
		{"a custom trust domain replaces cluster.local", ca.Identity{Namespace: "ns", ServiceAccount: "sa"}, "mesh.example.com",
			"sa.ns.mesh.example.com", "spiffe://mesh.example.com/ns/ns/sa/sa"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.id.CommonName(tt.trustDomain); got != tt.wantCN {
				t.Errorf("CommonName = %q, want %q", got, tt.wantCN)
			}
			if got := tt.id.SPIFFEID(tt.trustDomain).String(); got != tt.wantSPIFFE {
				t.Errorf("SPIFFEID = %q, want %q", got, tt.wantSPIFFE)
			}
		})
	}
}

func TestIdentityValidate(t *testing.T) {
	tests := []struct {
		name    string
		id      ca.Identity
		wantErr bool
	}{
		{"kubernetes names are accepted", ca.Identity{Namespace: "default", ServiceAccount: "bookbuyer"}, false},
		{"an empty service account is rejected", ca.Identity{Namespace: "default"}, true},
		{"an upper-case namespace is rejected", ca.Identity{Namespace: "Default", ServiceAccount: "sa"}, true},
		{"a slash cannot smuggle a path into the SPIFFE ID", ca.Identity{Namespace: "default", ServiceAccount: "a/b"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.id.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestSettingsFromMeshConfig(t *testing.T) {
	mc := func(c configv1alpha2.CertificateSpec) *configv1alpha2.MeshConfig {
		m := &configv1alpha2.MeshConfig{Spec: configv1alpha2.MeshConfigSpec{Certificate: c}}
		m.Namespace, m.Name = "weft-system", "osm-mesh-config"
		return m
	}
	tests := []struct {
		name    string
		mc      *configv1alpha2.MeshConfig
		want    ca.Settings
		wantErr string
	}{
		{"no MeshConfig gives 24h ECDSA certificates", nil, ca.Settings{ServiceValidity: ca.DefaultServiceValidity}, ""},
		{"an empty section gives the defaults", mc(configv1alpha2.CertificateSpec{}), ca.Settings{ServiceValidity: ca.DefaultServiceValidity}, ""},
		{"serviceCertValidityDuration sets the lifetime", mc(configv1alpha2.CertificateSpec{ServiceCertValidityDuration: "1h"}), ca.Settings{ServiceValidity: 3600e9}, ""},
		{"certKeyBitSize switches to RSA", mc(configv1alpha2.CertificateSpec{CertKeyBitSize: 3072}), ca.Settings{ServiceValidity: ca.DefaultServiceValidity, Key: ca.KeySpec{RSABits: 3072}}, ""},
		{"a bad duration names the MeshConfig and the field", mc(configv1alpha2.CertificateSpec{ServiceCertValidityDuration: "a day"}), ca.Settings{},
			`MeshConfig weft-system/osm-mesh-config: spec.certificate.serviceCertValidityDuration "a day"`},
		{"an odd key size names the field", mc(configv1alpha2.CertificateSpec{CertKeyBitSize: 1024}), ca.Settings{},
			"MeshConfig weft-system/osm-mesh-config: spec.certificate.certKeyBitSize 1024"},
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
