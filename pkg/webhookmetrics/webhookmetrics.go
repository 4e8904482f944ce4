// Package webhookmetrics counts and times weftd's admission webhooks (the
// injector's and the policy validator's) under OSM's metric names, so that
// OSM's dashboards and alerts keep working: osm_admission_webhook_response_total
// by the request's kind and whether it was allowed, and osm_http_response_total
// and osm_http_response_duration by HTTP code, method and path. It knows no
// webhook of its own and imports none.
package webhookmetrics

import (
	"context"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Metrics are the webhooks' series, registered once on weftd's registry.
type Metrics struct {
	responses *prometheus.CounterVec
	total     *prometheus.CounterVec
	duration  *prometheus.HistogramVec
}

// New registers the webhooks' series on reg.
func New(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		responses: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osm_admission_webhook_response_total",
			Help: "Admission answers, by the request's kind and whether it was allowed (OSM's name).",
		}, []string{"kind", "success"}),
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "osm_http_response_total",
			Help: "HTTP responses of the webhooks, by code, method and path (OSM's name).",
		}, []string{"code", "method", "path"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "osm_http_response_duration",
			Help: "Seconds to answer a webhook request, by code, method and path (OSM's name).",
			// OSM's buckets.
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"code", "method", "path"}),
	}
	for _, c := range []prometheus.Collector{m.responses, m.total, m.duration} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// Handler serves h as the webhook at path, counted and timed. The kind is the
// admitted object's (Pod for the injector); success is the answer's Allowed,
// as OSM counted it: the injector's patches count as successes.
func (m *Metrics) Handler(path string, h admission.Handler) http.Handler {
	counted := admission.HandlerFunc(func(ctx context.Context, req admission.Request) admission.Response {
		resp := h.Handle(ctx, req)
		m.responses.WithLabelValues(req.Kind.Kind, strconv.FormatBool(resp.Allowed)).Inc()
		return resp
	})
	labels := prometheus.Labels{"path": path}
	return promhttp.InstrumentHandlerDuration(m.duration.MustCurryWith(labels),
		promhttp.InstrumentHandlerCounter(m.total.MustCurryWith(labels), &admission.Webhook{Handler: counted}))
}
