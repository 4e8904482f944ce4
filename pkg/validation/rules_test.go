package validation

import (
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/util/validation/field"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// The API-server test (webhook_test.go) shows the messages users see; the
// per-object rules are tested in package rules. These cover MeshConfig, whose
// certificate settings only the webhook checks.
func TestMeshConfig(t *testing.T) {
	tests := []struct {
		name string
		errs field.ErrorList
		want string // substring of the joined errors; "" means valid
	}{
		{
			name: "the ingress gateway certificate needs a Secret name and a positive validity",
			errs: MeshConfig(&configv1alpha2.MeshConfig{Spec: configv1alpha2.MeshConfigSpec{Certificate: configv1alpha2.CertificateSpec{
				IngressGateway: &configv1alpha2.IngressGatewayCertSpec{SubjectAltNames: []string{"ingress-nginx.ingress-nginx.cluster.local"}, ValidityDuration: "0s"},
			}}}),
			want: `spec.certificate.ingressGateway.validityDuration: Invalid value: "0s": must be positive, spec.certificate.ingressGateway.secret.name: Required value`,
		},
		{
			name: "MeshConfig exclusion ranges are CIDRs",
			errs: MeshConfig(&configv1alpha2.MeshConfig{Spec: configv1alpha2.MeshConfigSpec{Traffic: configv1alpha2.TrafficSpec{OutboundIPRangeExclusionList: []string{"10.0.0.0/8", "nope"}}}}),
			want: `spec.traffic.outboundIPRangeExclusionList[1]: Invalid value: "nope"`,
		},
		{
			name: "the settings outside spec.certificate come first, then the CA's",
			errs: MeshConfig(&configv1alpha2.MeshConfig{Spec: configv1alpha2.MeshConfigSpec{
				Sidecar:     configv1alpha2.SidecarSpec{TLSMinProtocolVersion: "TLSv1.2"},
				Certificate: configv1alpha2.CertificateSpec{ServiceCertValidityDuration: "one day"},
			}}),
			want: `[spec.sidecar.tlsMinProtocolVersion: Unsupported value: "TLSv1.2": supported values: "TLS_AUTO", "TLSv1_0", "TLSv1_1", "TLSv1_2", "TLSv1_3", ` +
				`spec.certificate.serviceCertValidityDuration: Invalid value: "one day": must be a duration such as "24h" or "90s"]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.errs.ToAggregate()
			switch {
			case tt.want == "" && got != nil:
				t.Errorf("want valid, got %v", got)
			case tt.want != "" && (got == nil || !strings.Contains(got.Error(), tt.want)):
				t.Errorf("errors = %v, want one containing %q", got, tt.want)
			}
		})
	}
}
