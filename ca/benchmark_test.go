package ca_test

import (
	"context"
	"crypto/x509"
	"net/url"
	"testing"
	"time"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/identity"
)

// The benchmarks measure what the admission path pays for a new identity: key
// generation, CSR, signing by the internal CA, and the Manager's checks
// (parse, key match, verification against the bundle). Run them on purpose:
//
//	go test -run x -bench . -benchtime 3s ./ca/
func benchmarkIssueLeaf(b *testing.B, key ca.KeySpec, parallel bool) {
	f := newFixture(b, ca.Options{Settings: ca.Settings{Key: key}})
	req := ca.LeafRequest{
		Kind: ca.KindService, CommonName: "bookbuyer.bookstore.cluster.local", DNSNames: []string{"bookbuyer.bookstore.cluster.local"},
		URIs:        []*url.URL{identity.Identity{Namespace: "bookstore", ServiceAccount: "bookbuyer"}.SPIFFEID("cluster.local")},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}, Validity: 24 * time.Hour,
	}
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	began := time.Now()
	if parallel {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := f.manager.Issue(ctx, req); err != nil {
					b.Error(err)
					return
				}
			}
		})
	} else {
		for b.Loop() {
			if _, err := f.manager.Issue(ctx, req); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/time.Since(began).Seconds(), "certs/s")
}

func BenchmarkIssueLeafECDSA(b *testing.B)         { benchmarkIssueLeaf(b, ca.KeySpec{}, false) }
func BenchmarkIssueLeafECDSAParallel(b *testing.B) { benchmarkIssueLeaf(b, ca.KeySpec{}, true) }
func BenchmarkIssueLeafRSA2048(b *testing.B)       { benchmarkIssueLeaf(b, ca.KeySpec{RSABits: 2048}, false) }

// BenchmarkServiceCertificateCached is the price of a cache hit.
func BenchmarkServiceCertificateCached(b *testing.B) {
	f := newFixture(b, ca.Options{})
	id := identity.Identity{Namespace: "bookstore", ServiceAccount: "bookbuyer"}
	ctx := context.Background()
	if _, err := f.manager.ServiceCertificate(ctx, id); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.manager.ServiceCertificate(ctx, id); err != nil {
			b.Fatal(err)
		}
	}
}
