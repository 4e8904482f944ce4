package catalog_test

import (
	"strings"
	"testing"
)

// As OSM, a sidecar gets the Prometheus listener only when its pod asks to be
// scraped; a flip of the annotation changes that proxy alone.
func TestMetricsFollowThePodAnnotation(t *testing.T) {
	pods := func(scrape string) string {
		return `
apiVersion: v1
kind: Namespace
metadata: {name: shop, labels: {openservicemesh.io/monitored-by: osm}}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-1
  namespace: shop
  labels: {osm-proxy-uuid: 11111111-1111-4111-8111-111111111111}
  annotations: {prometheus.io/scrape: "` + scrape + `"}
spec: {serviceAccountName: web, containers: [{name: app, image: x}]}
---
apiVersion: v1
kind: Pod
metadata:
  name: web-2
  namespace: shop
  labels: {osm-proxy-uuid: 22222222-2222-4222-8222-222222222222}
spec: {serviceAccountName: web, containers: [{name: app, image: x}]}
`
	}
	const one, two = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
	on := build(t, pods("true"))
	if !on.MetricsEnabled(one) || on.MetricsEnabled(two) || on.MetricsEnabled("unknown") {
		t.Errorf("metrics: web-1 %v, web-2 %v, unknown %v; want true, false, false", on.MetricsEnabled(one), on.MetricsEnabled(two), on.MetricsEnabled("unknown"))
	}
	off := build(t, strings.Replace(pods("true"), `"true"`, `"false"`, 1))
	changed := off.MetricsChanged(on)
	if len(changed) != 1 || !changed[one] {
		t.Errorf("changed %v, want only web-1's proxy", changed)
	}
	if len(on.MetricsChanged(on)) != 0 {
		t.Error("a model differs from itself")
	}
}
