package main

import (
	"reflect"
	"strings"
	"testing"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
)

func TestTranslateOSMValues(t *testing.T) {
	got, err := translateOSMValues(map[string]any{
		"replicaCount": 1,
		"osm": map[string]any{
			"enablePermissiveTrafficPolicy": false,
			"osmController":                 map[string]any{"replicaCount": 2},
			"featureFlags":                  map[string]any{"enableRetryPolicy": true},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"replicaCount": 2,
		"meshConfig": map[string]any{
			"enablePermissiveTrafficPolicyMode": false,
			"featureFlags":                      map[string]any{"enableRetryPolicy": true},
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %v\nwant %v", got, want)
	}
	for _, tc := range []struct {
		osm  map[string]any
		want string
	}{
		{map[string]any{"deployPrometheus": true}, "osm.deployPrometheus"},
		{map[string]any{"meshName": "x"}, "use --mesh-name"},
		{map[string]any{"osmController": map[string]any{"autoScale": map[string]any{"enable": true}}}, "osm.osmController.autoScale.enable"},
	} {
		if _, err := translateOSMValues(map[string]any{"osm": tc.osm}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want an error naming %q", tc.osm, err, tc.want)
		}
	}
}

// TestCheckStoredVersions: a cluster upgraded through older OSM releases may
// hold MeshConfigs stored as v1alpha1, which the chart's CRD does not serve.
func TestCheckStoredVersions(t *testing.T) {
	ch, err := loadChart()
	if err != nil {
		t.Fatal(err)
	}
	crds, err := chartCRDs(ch)
	if err != nil {
		t.Fatal(err)
	}
	for _, crd := range crds {
		if crd.GetName() != "meshconfigs.config.openservicemesh.io" {
			continue
		}
		existing := &apiextensionsv1.CustomResourceDefinition{}
		existing.Name = crd.GetName()
		existing.Status.StoredVersions = []string{"v1alpha2"}
		if err := checkStoredVersions(existing, crd); err != nil {
			t.Errorf("stored in the served version: %v", err)
		}
		existing.Status.StoredVersions = []string{"v1alpha1", "v1alpha2"}
		err := checkStoredVersions(existing, crd)
		if err == nil || !strings.Contains(err.Error(), "storedVersions lists v1alpha1") || !strings.Contains(err.Error(), `["v1alpha2"]`) {
			t.Errorf("stored in v1alpha1: %v", err)
		}
		return
	}
	t.Fatal("no MeshConfig CRD in the chart")
}
