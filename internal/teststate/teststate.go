// Package teststate builds mesh states for tests: from arbitrary documents for
// fuzz targets (whatever the bytes hold, every namespace they name is monitored
// by mesh "osm", so that the fuzzer reaches the catalog and the generator rather
// than stopping at namespace filtering), and large generated meshes for
// benchmarks (Big). Only tests import it.
package teststate

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s"
)

// FromDocuments decodes multi-document YAML or JSON as the files source does
// (workloads stand in for their pods) into a State of mesh "osm" in which every
// namespace named is monitored, and the MeshConfig, if any, is read from
// whatever namespace holds it.
func FromDocuments(data []byte) *k8s.State {
	objs, rejected := k8s.DecodeObjects(data)
	objs = append(objs, k8s.PodsFromWorkloads(objs)...)
	opts := k8s.DefaultOptions()
	seen := map[string]bool{}
	for _, o := range objs {
		meta, ok := o.(metav1.Object)
		if !ok {
			continue
		}
		if mc, ok := o.(*configv1alpha2.MeshConfig); ok {
			opts.MeshNamespace, opts.MeshConfigName = mc.Namespace, mc.Name
		}
		seen[meta.GetNamespace()] = true
	}
	for ns := range seen {
		objs = append(objs, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{
			Name: ns, Labels: map[string]string{k8s.MonitoredByLabel: opts.MeshName}}})
	}
	return k8s.NewState(objs, opts, rejected)
}
