package ca_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/identity"
)

// TestOSMCertificateMetrics checks OSM's names beside Weft's: every
// certificate issued counts once in osm_cert_issued_count and is timed in
// osm_cert_issued_time.
func TestOSMCertificateMetrics(t *testing.T) {
	f := newFixture(t, ca.Options{})
	ctx := context.Background()
	id := identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}
	if _, err := f.manager.ServiceCertificate(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := f.manager.ProxyCertificate(ctx, ca.Proxy{ID: uuid.NewString(), Kind: ca.ProxySidecar, Identity: id}); err != nil {
		t.Fatal(err)
	}
	// Served from the cache: not issued again.
	if _, err := f.manager.ServiceCertificate(ctx, id); err != nil {
		t.Fatal(err)
	}

	want := `
# HELP osm_cert_issued_count Certificates issued, of every kind (OSM's name; weft_ca_certificates_issued_total has the kind).
# TYPE osm_cert_issued_count counter
osm_cert_issued_count 2
`
	if err := testutil.GatherAndCompare(f.registry, strings.NewReader(want), "osm_cert_issued_count"); err != nil {
		t.Error(err)
	}
	if n := testutil.CollectAndCount(f.registry, "osm_cert_issued_time"); n != 1 {
		t.Errorf("osm_cert_issued_time has %d series, want 1 (no labels, as OSM's)", n)
	}
	families, err := f.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == "osm_cert_issued_time" {
			if got := mf.GetMetric()[0].GetHistogram().GetSampleCount(); got != 2 {
				t.Errorf("osm_cert_issued_time counts %d issuances, want 2", got)
			}
			return
		}
	}
	t.Error("osm_cert_issued_time is not registered")
}
