package ca

import (
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the CA's Prometheus series. They are registered on the
// Registerer the Manager is given, never globally.
type metrics struct {
	issued   *prometheus.CounterVec
	renewals *prometheus.CounterVec
	failures *prometheus.CounterVec

	// OSM's names, kept so that OSM's dashboards and alerts still work.
	osmIssued     prometheus.Counter
	osmIssuedTime prometheus.Histogram
}

func newMetrics(reg prometheus.Registerer, soonestExpiry func() float64) (*metrics, error) {
	m := &metrics{
		issued: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "weft", Subsystem: "ca", Name: "certificates_issued_total",
			Help: "Certificates issued, by kind (service, proxy, ingress-gateway); renewals included.",
		}, []string{"kind"}),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "weft", Subsystem: "ca", Name: "certificate_renewals_total",
			Help: "Certificates replaced because they were due for renewal or their signing root changed, by kind.",
		}, []string{"kind"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: "weft", Subsystem: "ca", Name: "certificate_issue_errors_total",
			Help: "Failed attempts to issue a certificate, by kind.",
		}, []string{"kind"}),
		osmIssued: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: "osm", Subsystem: "cert", Name: "issued_count",
			Help: "Certificates issued, of every kind (OSM's name; weft_ca_certificates_issued_total has the kind).",
		}),
		osmIssuedTime: prometheus.NewHistogram(prometheus.HistogramOpts{
			Namespace: "osm", Subsystem: "cert", Name: "issued_time",
			Help: "Seconds to issue one certificate: key generation, signing and checks (OSM's name).",
			// OSM's buckets.
			Buckets: []float64{.1, .25, .5, 1, 2.5, 5, 10, 20, 40, 90},
		}),
	}
	if reg == nil {
		return m, nil
	}
	expiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "weft", Subsystem: "ca", Name: "soonest_certificate_expiry_seconds",
		Help: "Seconds until the soonest expiry among the certificates the CA serves (negative once expired; +Inf when none).",
	}, soonestExpiry)
	for _, c := range []prometheus.Collector{m.issued, m.renewals, m.failures, m.osmIssued, m.osmIssuedTime, expiry} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// issuedOne counts a certificate issued in seconds.
func (m *metrics) issuedOne(kind Kind, seconds float64) {
	m.issued.WithLabelValues(string(kind)).Inc()
	m.osmIssued.Inc()
	m.osmIssuedTime.Observe(seconds)
}
