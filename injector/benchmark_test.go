package injector_test

import (
	"context"
	"net/http"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/internal/testenv"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// BenchmarkAdmission measures the webhook's own latency per pod admission with
// 20 admissions in flight: decoding the request, the decision, a fresh proxy
// UUID, the patch and its JSON diff. Admission issues no certificate: the
// bootstrap Secret is written once the pod exists (BootstrapSecrets). It
// calls Handle directly with an admission.Request built in code; the API
// server's round trip (TLS, the AdmissionReview encoding) is excluded
// (BenchmarkAdmissionThroughAPIServer measures the whole path). The
// namespace and service account come from memory, as from weftd's informer
// cache. It reports p50 and p99 of the per-admission latency; ns/op is the
// wall time per admission with 20 in flight.
func BenchmarkAdmission(b *testing.B) {
	const concurrency = 20
	w, err := injector.NewWebhook(injector.Options{
		MeshName: "osm", MeshNamespace: "osm-system",
		Namespaces: namespaces(meshed("bookstore")), ServiceAccounts: serviceAccounts(),
		MeshConfig: func() *configv1alpha2.MeshConfig { return &configv1alpha2.MeshConfig{} },
	})
	if err != nil {
		b.Fatal(err)
	}
	pod := appPod("bookstore")
	pod.GenerateName, pod.Name = "bookstore-v1-5d8f7c9b6-", ""
	pod.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 14001}}
	pod.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/ready", Port: intstr.FromString("http")}}}
	req := createRequest(b, "bookstore", pod, false)

	// Admissions arrive in bursts of 20, as when a Deployment scales up by
	// 20 replicas: each burst starts 20 at once and ends when all have been
	// answered; a latency is from the burst's start to that admission's answer.
	latencies := make([]time.Duration, 0, b.N+concurrency)
	var mu sync.Mutex
	b.ReportAllocs()
	b.ResetTimer()
	for done := 0; done < b.N; done += concurrency {
		var wg sync.WaitGroup
		start := time.Now()
		for range concurrency {
			wg.Go(func() {
				resp := w.Handle(context.Background(), req)
				took := time.Since(start)
				if !resp.Allowed || len(resp.Patches) == 0 {
					b.Errorf("admission not patched: %v", resp.Result)
				}
				mu.Lock()
				latencies = append(latencies, took)
				mu.Unlock()
			})
		}
		wg.Wait()
	}
	b.StopTimer()
	slices.Sort(latencies)
	pct := func(p float64) float64 {
		return float64(latencies[int(p*float64(len(latencies)-1))].Microseconds()) / 1000
	}
	b.Logf("%d admissions: p90 %.2f ms, p95 %.2f ms, max %v; slowest: %v", len(latencies), pct(0.90), pct(0.95), latencies[len(latencies)-1], latencies[max(0, len(latencies)-25):])
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(len(latencies))/float64(b.N), "admissions/op")
}

// BenchmarkAdmissionThroughAPIServer measures what BenchmarkAdmission leaves
// out: pods created through a real kube-apiserver and etcd with the injection
// webhook installed (TLS to the webhook, the AdmissionReview, the pod's own
// validation and storage). Pods are created in
// bursts of 20 concurrent creates, in a meshed namespace (p50-ms, p99-ms) and,
// for comparison, in one the webhook's selector skips (plain-p50-ms,
// plain-p99-ms). The difference is what injection adds to a pod creation.
func BenchmarkAdmissionThroughAPIServer(b *testing.B) {
	const concurrency = 20
	env := testenv.Start(b, testenv.WithWebhooks(testenv.MutatingWebhooks))
	ctx := context.Background()
	suffix := uuid.NewString()[:8]
	meshedNS, plainNS := "bench-meshed-"+suffix, "bench-plain-"+suffix
	for _, ns := range []*corev1.Namespace{meshed(meshedNS), namespace(plainNS, nil, nil)} {
		if err := env.Client.Create(ctx, ns); err != nil {
			b.Fatal(err)
		}
	}
	// Namespaces come from memory, as from weftd's informer cache; the
	// Secret is created through the API server.
	w, err := injector.NewWebhook(injector.Options{
		MeshName: "osm", MeshNamespace: "osm-system",
		Namespaces: namespaces(meshed(meshedNS)), ServiceAccounts: serviceAccounts(),
		MeshConfig: func() *configv1alpha2.MeshConfig { return nil },
	})
	if err != nil {
		b.Fatal(err)
	}
	env.ServeWebhooks(b, map[string]http.Handler{injector.Path: w.HTTPHandler()})
	create := func(ns string, n int) []time.Duration {
		var latencies []time.Duration
		var mu sync.Mutex
		for done := 0; done < n; done += concurrency {
			var wg sync.WaitGroup
			start := time.Now()
			for range concurrency {
				wg.Go(func() {
					pod := appPod("bookstore")
					pod.Namespace, pod.Name, pod.GenerateName = ns, "", "bookstore-"
					err := env.Client.Create(ctx, pod)
					took := time.Since(start)
					if err != nil {
						b.Error(err)
					}
					mu.Lock()
					latencies = append(latencies, took)
					mu.Unlock()
				})
			}
			wg.Wait()
		}
		slices.Sort(latencies)
		return latencies
	}
	// Warm both paths (connections, the webhook server's TLS).
	create(meshedNS, concurrency)
	create(plainNS, concurrency)
	b.ResetTimer()
	injected := create(meshedNS, b.N)
	b.StopTimer()
	plain := create(plainNS, b.N)
	pct := func(l []time.Duration, p float64) float64 {
		return float64(l[int(p*float64(len(l)-1))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(injected, 0.50), "p50-ms")
	b.ReportMetric(pct(injected, 0.99), "p99-ms")
	b.ReportMetric(pct(plain, 0.50), "plain-p50-ms")
	b.ReportMetric(pct(plain, 0.99), "plain-p99-ms")
}
