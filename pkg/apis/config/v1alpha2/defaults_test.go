package v1alpha2

import (
	"encoding/json"
	"reflect"
	"testing"
)

func TestDecodingAppliesDefaults(t *testing.T) {
	withSpec := func(f func(*MeshConfigSpec)) MeshConfigSpec {
		s := DefaultSpec()
		f(&s)
		return s
	}
	for _, tc := range []struct {
		name, doc string
		want      MeshConfigSpec
	}{
		{"no spec", `{"metadata": {"name": "osm-mesh-config"}}`, DefaultSpec()},
		{"a null spec", `{"spec": null}`, DefaultSpec()},
		{"empty sections", `{"spec": {"sidecar": {}, "traffic": {}, "certificate": {}, "featureFlags": {}}}`, DefaultSpec()},
		{"an explicit false stays false; the rest of the section defaults",
			`{"spec": {"traffic": {"enableEgress": false}, "featureFlags": {"enableRetryPolicy": true}}}`,
			withSpec(func(s *MeshConfigSpec) { s.Traffic.EnableEgress, s.FeatureFlags.EnableRetryPolicy = false, true })},
		{"a set value wins", `{"spec": {"sidecar": {"tlsMinProtocolVersion": "TLSv1_3"}, "certificate": {"serviceCertValidityDuration": "1h"}}}`,
			withSpec(func(s *MeshConfigSpec) {
				s.Sidecar.TLSMinProtocolVersion, s.Certificate.ServiceCertValidityDuration = "TLSv1_3", "1h"
			})},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var mc MeshConfig
			if err := json.Unmarshal([]byte(tc.doc), &mc); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(mc.Spec, tc.want) {
				t.Errorf("spec = %+v\nwant %+v", mc.Spec, tc.want)
			}
		})
	}
	t.Run("false survives a round trip through JSON", func(t *testing.T) {
		in := MeshConfig{Spec: DefaultSpec()}
		in.Spec.Traffic.EnablePermissiveTrafficPolicyMode = false
		in.Spec.FeatureFlags.EnableEgressPolicy = false
		data, err := json.Marshal(&in)
		if err != nil {
			t.Fatal(err)
		}
		var out MeshConfig
		if err := json.Unmarshal(data, &out); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(out.Spec, in.Spec) {
			t.Errorf("spec = %+v\nwant %+v", out.Spec, in.Spec)
		}
	})
	t.Run("without a MeshConfig nothing is opened", func(t *testing.T) {
		s := SpecOrDefault(nil)
		if s.Traffic.EnablePermissiveTrafficPolicyMode || s.Traffic.EnableEgress || !s.FeatureFlags.EnableEgressPolicy {
			t.Errorf("spec = %+v", s)
		}
	})
}
