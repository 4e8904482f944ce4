package identity_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weft-mesh/weft/pkg/identity"
)

func TestIdentityNames(t *testing.T) {
	tests := []struct {
		name        string
		id          identity.Identity
		trustDomain string
		wantCN      string
		wantSPIFFE  string
	}{
		{"the default trust domain names the service account as OSM did", identity.Identity{Namespace: "bookstore", ServiceAccount: "bookbuyer"}, "cluster.local",
			"bookbuyer.bookstore.cluster.local", "spiffe://cluster.local/ns/bookstore/sa/bookbuyer"},
		{"a custom trust domain replaces cluster.local", identity.Identity{Namespace: "ns", ServiceAccount: "sa"}, "mesh.example.com",
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
		id      identity.Identity
		wantErr bool
	}{
		{"kubernetes names are accepted", identity.Identity{Namespace: "default", ServiceAccount: "bookbuyer"}, false},
		{"an empty service account is rejected", identity.Identity{Namespace: "default"}, true},
		{"an upper-case namespace is rejected", identity.Identity{Namespace: "Default", ServiceAccount: "sa"}, true},
		{"a slash cannot smuggle a path into the SPIFFE ID", identity.Identity{Namespace: "default", ServiceAccount: "a/b"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.id.Validate(); (err != nil) != tt.wantErr {
				t.Errorf("Validate() = %v, want error %v", err, tt.wantErr)
			}
		})
	}
}

func TestFromPod(t *testing.T) {
	tests := []struct {
		name string
		spec corev1.PodSpec
		want string
	}{
		{"serviceAccountName names the service account", corev1.PodSpec{ServiceAccountName: "bookbuyer", DeprecatedServiceAccount: "old"}, "bookbuyer"},
		{"the deprecated serviceAccount is read when serviceAccountName is empty", corev1.PodSpec{DeprecatedServiceAccount: "old"}, "old"},
		{"a pod naming none runs as default", corev1.PodSpec{}, "default"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "bookstore", Name: "p"}, Spec: tt.spec}
			want := identity.Identity{Namespace: "bookstore", ServiceAccount: tt.want}
			if got := identity.FromPod(pod); got != want {
				t.Errorf("FromPod = %v, want %v", got, want)
			}
		})
	}
}
