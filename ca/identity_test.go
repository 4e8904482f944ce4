package ca_test

import (
	"testing"

	"github.com/weft-mesh/weft/ca"
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
