package catalog

import (
	"strconv"

	"github.com/weft-mesh/weft/pkg/mesh"
)

// AnnotationPrometheusScrape on a pod asks Prometheus to scrape its sidecar;
// the injector sets it where metrics are enabled.
const AnnotationPrometheusScrape = "prometheus.io/scrape"

// metricsByProxy says, for the proxy of each pod that names one (the
// osm-proxy-uuid label), whether the pod's prometheus.io/scrape annotation
// reads true: as OSM, only those sidecars get the Prometheus listener, so
// that `weft metrics disable` (which removes the annotation) closes it.
func (b *builder) metricsByProxy() map[string]bool {
	out := map[string]bool{}
	for _, pod := range b.state.Pods {
		id := pod.Labels[mesh.LabelProxyUUID]
		if id == "" || !b.monitored[pod.Namespace] {
			continue
		}
		on, err := strconv.ParseBool(pod.Annotations[AnnotationPrometheusScrape])
		out[id] = err == nil && on
	}
	return out
}

// MetricsEnabled reports whether the pod of the proxy with this ID asks to be
// scraped (prometheus.io/scrape: "true"). A proxy of no pod the model knows
// gets false.
func (m *Model) MetricsEnabled(proxyID string) bool { return m.metrics[proxyID] }

// MetricsChanged returns the proxies whose MetricsEnabled differs from prev's
// (a nil prev counts as all false).
func (m *Model) MetricsChanged(prev *Model) map[string]bool {
	changed := map[string]bool{}
	var before map[string]bool
	if prev != nil {
		before = prev.metrics
	}
	for id, on := range m.metrics {
		if before[id] != on {
			changed[id] = true
		}
	}
	for id, on := range before {
		if m.metrics[id] != on {
			changed[id] = true
		}
	}
	return changed
}
