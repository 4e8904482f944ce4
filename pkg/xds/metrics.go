package xds

import "github.com/prometheus/client_golang/prometheus"

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
}

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
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range []prometheus.Collector{m.connected, m.responses, m.nacks, m.refusals, m.configErrors, m.invalidConfigs, m.pushSeconds, m.convergenceSeconds, m.configBytes} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
