package bench

import (
	"context"
	"crypto/x509"
	"testing"
	"time"
)

var serverAuth = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}

// BenchmarkPushEndpointChange measures, with 1,000 proxies connected over real
// gRPC and mTLS, the time from a new model (svc-0 gains or loses a pod) to every
// affected proxy holding its new endpoints. One op is one change: catalog build
// excluded, change detection, regeneration, publishing and delivery included.
//
//	proxies-updated/op  proxies that received new endpoints
//	proxies-touched/op  proxies whose configuration was recomputed
func BenchmarkPushEndpointChange(b *testing.B) {
	for _, bc := range []struct {
		name  string
		shape meshShape
	}{
		// sa-i reaches svc-(i+1): svc-0's endpoints matter to sa-0's and sa-99's proxies.
		{name: "smi-100-services-1000-proxies", shape: meshShape{services: 100, podsPer: 10}},
		// Every identity reaches every service: everyone needs svc-0's endpoints.
		{name: "permissive-100-services-1000-proxies", shape: meshShape{services: 100, podsPer: 10, permissive: true}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFleet(b, bc.shape, 1000)
			withPod, without := bc.shape.model(1), bc.shape.model(0)
			var updated, touched int
			b.ResetTimer()
			b.StopTimer()
			for i := range b.N {
				next := withPod
				if i%2 == 1 {
					next = without
				}
				before := make([]string, len(f.proxies))
				for j, p := range f.proxies {
					before[j] = p.edsVersion()
				}
				b.StartTimer()
				result := f.server.Push(context.Background(), f.mesh.SetModel(next))
				n := waitForUpdates(b, f, before, result.Updated)
				b.StopTimer()
				updated += n
				touched += result.Recomputed
			}
			b.ReportMetric(float64(updated)/float64(b.N), "proxies-updated/op")
			b.ReportMetric(float64(touched)/float64(b.N), "proxies-touched/op")
		})
	}
}

// waitForUpdates waits until want proxies hold an EDS version other than
// before, and returns how many do.
func waitForUpdates(b *testing.B, f *fleet, before []string, want int) int {
	deadline := time.Now().Add(60 * time.Second)
	for {
		n := 0
		for j, p := range f.proxies {
			if p.edsVersion() != before[j] {
				n++
			}
		}
		if n >= want {
			return n
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d proxies updated after 60s", n, want)
		}
		time.Sleep(100 * time.Microsecond)
	}
}
