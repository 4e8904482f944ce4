package xds

import (
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/weft-mesh/weft/ca"
)

// The server's metrics are Weft's own (weft_xds_*) and, so that OSM's
// dashboards and alerts keep working, OSM v1.2's control-plane proxy metrics
// under OSM's names, types and labels:
//
//	osm_proxy_connect_count                gauge: proxies with an open xDS stream (OSM counted
//	                                       streams; a proxy here may hold several)
//	osm_proxy_reconnect_count              counter: streams whose first requests carry a version
//	                                       or nonce from an earlier stream (a proxy reconnecting,
//	                                       to this or another replica, with its configuration)
//	osm_proxy_xds_request_count            counter {proxy_uuid, identity, type}: requests that
//	                                       passed the checks (ACKs, NACKs, subscriptions)
//	osm_proxy_response_send_success_count  counter {proxy_uuid, identity, type}: responses
//	osm_proxy_response_send_error_count    sent, or whose send failed (the stream broke)
//	osm_proxy_config_update_time           histogram {resource_type, success}: seconds to compute,
//	                                       validate and publish one proxy's configuration, observed
//	                                       for each type it holds (all are computed together);
//	                                       success is "false" when it failed validation
//	osm_proxy_max_connections_rejected     counter: proxies refused by MeshConfig
//	                                       sidecar.maxDataPlaneConnections
//
// identity is OSM's form, <serviceaccount>.<namespace>.<trust domain>; type
// and resource_type are type URLs, or "unknown". OSM kept a proxy's series
// forever; here they are deleted when the proxy's last stream closes, so the
// series are bounded by the connected proxies (times the five types) and a
// proxy that reconnects starts from zero. OSM's osm_proxy_broadcast_event_count
// has no counterpart: pushes go to the affected proxies only.
type metrics struct {
	connected          prometheus.Gauge
	responses          *prometheus.CounterVec
	nacks              *prometheus.CounterVec
	refusals           *prometheus.CounterVec
	configErrors       prometheus.Counter
	invalidConfigs     prometheus.Counter
	pushSeconds        prometheus.Histogram
	convergenceSeconds prometheus.Histogram
	configBytes        prometheus.Histogram

	osmConnected              prometheus.Gauge
	osmReconnects             prometheus.Counter
	osmRequests               *prometheus.CounterVec
	osmSendSuccess            *prometheus.CounterVec
	osmSendErrors             *prometheus.CounterVec
	osmConfigUpdate           *prometheus.HistogramVec
	osmMaxConnectionsRejected prometheus.Counter
}

// OSM's labels of its per-proxy counters.
var osmProxyLabels = []string{"proxy_uuid", "identity", "type"}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		connected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "weft_xds_connected_proxies", Help: "Proxies with an open xDS stream.",
		}),
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_xds_pushes_total", Help: "xDS responses sent, by resource type.",
		}, []string{"type"}),
		nacks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_xds_nacks_total", Help: "Configurations proxies rejected, by resource type.",
		}, []string{"type"}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "weft_xds_refused_requests_total", Help: "Streams and requests refused, by reason.",
		}, []string{"reason"}),
		configErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_xds_config_errors_total", Help: "Proxy configurations that could not be computed.",
		}),
		invalidConfigs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "weft_xds_invalid_configs_total",
			Help: "Proxy configurations that failed validation and were not published; each distinct configuration of a proxy counts once.",
		}),
		pushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "weft_xds_push_seconds", Help: "Time to compute and publish one proxy's configuration.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 4, 10),
		}),
		convergenceSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "weft_xds_convergence_seconds", Help: "Time from publishing a configuration to the proxy's ACK.",
			Buckets: prometheus.ExponentialBuckets(0.001, 4, 10),
		}),
		configBytes: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "weft_xds_config_bytes", Help: "Size of one proxy's published configuration.",
			Buckets: prometheus.ExponentialBuckets(1024, 4, 10),
		}),

		osmConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "osm_proxy_connect_count", Help: "Proxies with an open xDS stream (OSM's name).",
		}),
		osmReconnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "osm_proxy_reconnect_count", Help: "Streams of proxies that came back with configuration from an earlier stream (OSM's name).",
		}),
		osmRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osm_proxy_xds_request_count", Help: "xDS requests of connected proxies (OSM's name).",
		}, osmProxyLabels),
		osmSendSuccess: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osm_proxy_response_send_success_count", Help: "xDS responses sent to connected proxies (OSM's name).",
		}, osmProxyLabels),
		osmSendErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osm_proxy_response_send_error_count", Help: "xDS responses that could not be sent to connected proxies (OSM's name).",
		}, osmProxyLabels),
		// OSM's buckets.
		osmConfigUpdate: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "osm_proxy_config_update_time", Help: "Seconds to compute a proxy's configuration, by type and success (OSM's name).",
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 20, 40, 90},
		}, []string{"resource_type", "success"}),
		osmMaxConnectionsRejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "osm_proxy_max_connections_rejected", Help: "Proxies refused for MeshConfig sidecar.maxDataPlaneConnections (OSM's name).",
		}),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.connected, m.responses, m.nacks, m.refusals, m.configErrors, m.invalidConfigs, m.pushSeconds, m.convergenceSeconds, m.configBytes,
		m.osmConnected, m.osmReconnects, m.osmRequests, m.osmSendSuccess, m.osmSendErrors, m.osmConfigUpdate, m.osmMaxConnectionsRejected} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// forget deletes a disconnected proxy's per-proxy series, which bounds them
// by the connected proxies. It deletes each series by its full label values
// (every type label the proxy may have): a partial match scans every series
// of the vector, which made a disconnect of thousands of proxies quadratic
// (a fifth of weftd's CPU when 4,000 of 5,000 proxies left at once).
func (m *metrics) forget(p ca.Proxy, trustDomain string) {
	cn := p.Identity.CommonName(trustDomain)
	for _, typ := range proxyTypeLabels {
		m.osmRequests.DeleteLabelValues(p.ID, cn, typ)
		m.osmSendSuccess.DeleteLabelValues(p.ID, cn, typ)
		m.osmSendErrors.DeleteLabelValues(p.ID, cn, typ)
	}
}

// proxyTypeLabels are the values typeLabel gives: every type URL the cache
// serves, and "unknown".
var proxyTypeLabels = func() []string {
	out := []string{"unknown"}
	for t := range types.UnknownType {
		if url, err := cachev3.GetResponseTypeURL(t); err == nil {
			out = append(out, url)
		}
	}
	return out
}()
