package manifests_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/internal/testenv"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s"
)

// TestMeshConfigDefaults: the API server fills what a MeshConfig omits with
// the CRD's schema defaults (the +kubebuilder:default markers), so that
// `kubectl get meshconfig -o yaml` shows them; those must be
// configv1alpha2.DefaultSpec, which decoding applies to files read without an
// API server: the same YAML means the same mesh either way.
func TestMeshConfigDefaults(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "osm-system"}}); err != nil {
		t.Fatal(err)
	}
	for i, doc := range []string{
		`{apiVersion: config.openservicemesh.io/v1alpha2, kind: MeshConfig, metadata: {name: no-spec, namespace: osm-system}}`,
		`{apiVersion: config.openservicemesh.io/v1alpha2, kind: MeshConfig, metadata: {name: empty-sections, namespace: osm-system},
  spec: {sidecar: {}, traffic: {inboundExternalAuthorization: {}}, observability: {tracing: {}}, certificate: {}, featureFlags: {}}}`,
		`{apiVersion: config.openservicemesh.io/v1alpha2, kind: MeshConfig, metadata: {name: some-false, namespace: osm-system},
  spec: {traffic: {enableEgress: false, enablePermissiveTrafficPolicyMode: false}, featureFlags: {enableIngressBackendPolicy: false}}}`,
	} {
		objs, err := k8s.DecodeYAML(strings.NewReader(doc))
		if err != nil {
			t.Fatal(err)
		}
		u := objs[0]
		t.Run(u.GetName(), func(t *testing.T) {
			if err := env.Client.Create(ctx, u.DeepCopy()); err != nil {
				t.Fatal(err)
			}
			stored := &unstructured.Unstructured{}
			stored.SetGroupVersionKind(u.GroupVersionKind())
			if err := env.Client.Get(ctx, client.ObjectKeyFromObject(u), stored); err != nil {
				t.Fatal(err)
			}
			// The spec as stored, read without any defaulting of Weft's.
			var server configv1alpha2.MeshConfigSpec
			decode(t, stored.Object["spec"], &server)
			// The same document as the files source reads it.
			var files configv1alpha2.MeshConfig
			decode(t, u.Object, &files)
			if !reflect.DeepEqual(server, files.Spec) {
				t.Errorf("document %d: the API server defaults\n %+v\nDefaultSpec gives\n %+v", i, server, files.Spec)
			}
		})
	}
}

func decode(t *testing.T, v any, into any) {
	t.Helper()
	data, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(data, into); err != nil {
		t.Fatal(err)
	}
}
