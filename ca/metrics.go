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
	}
	if reg == nil {
		return m, nil
	}
	expiry := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Namespace: "weft", Subsystem: "ca", Name: "soonest_certificate_expiry_seconds",
		Help: "Seconds until the soonest expiry among the certificates the CA serves (negative once expired; +Inf when none).",
	}, soonestExpiry)
	for _, c := range []prometheus.Collector{m.issued, m.renewals, m.failures, expiry} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}
