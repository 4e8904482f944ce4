package k8s

import (
	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/tools/cache"
)

// eventCounter counts the informers' events as OSM's osm_k8s_api_event_count
// did, and the mesh's namespaces as its osm_resource_namespace_count: by type (<kind>-added, -updated or -deleted, in OSM's words) and
// namespace, for the mesh's namespaces and the mesh namespace only, which
// keeps the namespace label as bounded as the mesh. An event that comes
// before its namespace is in the namespace informer's cache (during the
// first sync) is not counted.
type eventCounter struct {
	count      *prometheus.CounterVec
	opts       Options
	namespaces cache.Store
}

func newEventCounter(reg prometheus.Registerer, opts Options, namespaces cache.Store) (*eventCounter, error) {
	if reg == nil {
		return nil, nil
	}
	c := &eventCounter{opts: opts, namespaces: namespaces, count: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "osm_k8s_api_event_count",
		Help: "Events the informers received for the mesh's namespaces, by type (<kind>-added, -updated, -deleted) and namespace (OSM's name).",
	}, []string{"type", "namespace"})}
	meshed := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "osm_resource_namespace_count",
		Help: "Namespaces in the mesh: labelled openservicemesh.io/monitored-by=<mesh name> (OSM's name).",
	}, c.meshedNamespaces)
	for _, col := range []prometheus.Collector{c.count, meshed} {
		if err := reg.Register(col); err != nil {
			return nil, err
		}
	}
	return c, nil
}

func (c *eventCounter) meshedNamespaces() float64 {
	n := 0
	for _, item := range c.namespaces.List() {
		if ns, ok := item.(*corev1.Namespace); ok && c.opts.MeshName != "" && ns.Labels[MonitoredByLabel] == c.opts.MeshName {
			n++
		}
	}
	return float64(n)
}

// handler counts kind's events; a nil counter counts nothing.
func (c *eventCounter) handler(kind string) cache.ResourceEventHandlerFuncs {
	if c == nil {
		return cache.ResourceEventHandlerFuncs{}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.observe(kind+"-added", obj) },
		UpdateFunc: func(_, obj any) { c.observe(kind+"-updated", obj) },
		DeleteFunc: func(obj any) { c.observe(kind+"-deleted", obj) },
	}
}

func (c *eventCounter) observe(event string, obj any) {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	m, err := meta.Accessor(obj)
	if err != nil {
		return
	}
	namespace, labels := m.GetNamespace(), m.GetLabels()
	if _, ok := obj.(*corev1.Namespace); ok {
		namespace = m.GetName()
	} else if item, ok, _ := c.namespaces.GetByKey(namespace); ok {
		if ns, ok := item.(*corev1.Namespace); ok {
			labels = ns.Labels
		}
	} else {
		labels = nil
	}
	if namespace != c.opts.MeshNamespace && (c.opts.MeshName == "" || labels[MonitoredByLabel] != c.opts.MeshName) {
		return
	}
	c.count.WithLabelValues(event, namespace).Inc()
}
