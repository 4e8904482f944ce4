package k8s

import (
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/cache"
)

// TestEventCounterCountsTheMeshsNamespaces: events of meshed namespaces and
// the mesh namespace count under OSM's types; other namespaces' do not; the
// meshed namespaces are counted.
func TestEventCounterCountsTheMeshsNamespaces(t *testing.T) {
	meshed := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "bookstore", Labels: map[string]string{MonitoredByLabel: "osm"}}}
	other := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "kube-system"}}
	store := cache.NewStore(cache.MetaNamespaceKeyFunc)
	for _, ns := range []*corev1.Namespace{meshed, other} {
		if err := store.Add(ns); err != nil {
			t.Fatal(err)
		}
	}
	reg := prometheus.NewRegistry()
	c, err := newEventCounter(reg, Options{MeshName: "osm", MeshNamespace: "osm-system"}, store)
	if err != nil {
		t.Fatal(err)
	}
	pod := func(ns string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}}
	}
	pods, namespaces := c.handler("pod"), c.handler("namespace")
	pods.OnAdd(pod("bookstore"), false)
	pods.OnUpdate(pod("bookstore"), pod("bookstore"))
	pods.OnDelete(cache.DeletedFinalStateUnknown{Key: "bookstore/p", Obj: pod("bookstore")})
	pods.OnAdd(pod("osm-system"), false)
	pods.OnAdd(pod("kube-system"), false)
	pods.OnAdd(pod("unknown"), false)
	namespaces.OnAdd(meshed, false)
	namespaces.OnAdd(other, false)

	want := `
# HELP osm_k8s_api_event_count Events the informers received for the mesh's namespaces, by type (<kind>-added, -updated, -deleted) and namespace (OSM's name).
# TYPE osm_k8s_api_event_count counter
osm_k8s_api_event_count{namespace="bookstore",type="namespace-added"} 1
osm_k8s_api_event_count{namespace="bookstore",type="pod-added"} 1
osm_k8s_api_event_count{namespace="bookstore",type="pod-deleted"} 1
osm_k8s_api_event_count{namespace="bookstore",type="pod-updated"} 1
osm_k8s_api_event_count{namespace="osm-system",type="pod-added"} 1
`
	want += `
# HELP osm_resource_namespace_count Namespaces in the mesh: labelled openservicemesh.io/monitored-by=<mesh name> (OSM's name).
# TYPE osm_resource_namespace_count gauge
osm_resource_namespace_count 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "osm_k8s_api_event_count", "osm_resource_namespace_count"); err != nil {
		t.Error(err)
	}

	var none *eventCounter
	none.handler("pod").OnAdd(pod("bookstore"), false) // a nil counter counts nothing and does not panic
}
