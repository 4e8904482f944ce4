package catalog_test

import (
	"testing"
)

func probePod(name, sa, annotation string) string {
	return `
apiVersion: v1
kind: Pod
metadata:
  name: ` + name + `
  namespace: shop
  annotations:
    weft-mesh.io/health-probes: '` + annotation + `'
spec:
  serviceAccountName: ` + sa + `
  containers: [{name: app, image: app}]`
}

func TestHealthProbes(t *testing.T) {
	const web = `[{"container":"app","kind":"readiness","port":15902,"path":"/osm-readiness-probe","original":{"scheme":"HTTP","port":8080,"path":"/ready"}},` +
		`{"container":"app","kind":"liveness","port":15904,"original":{"scheme":"TCP","port":8080}}]`
	const other = `[{"container":"app","kind":"readiness","port":15902,"path":"/osm-readiness-probe","original":{"scheme":"HTTP","port":9090,"path":"/healthz"}}]`

	t.Run("an identity carries its pods' rewritten probes, sorted by port", func(t *testing.T) {
		m := build(t, probePod("web-1", "web", web), probePod("web-2", "web", web))
		got := m.Identity(id("shop", "web")).HealthProbes
		if len(got) != 2 || got[0].Port != 15902 || got[0].Original.Path != "/ready" || got[1].Port != 15904 {
			t.Errorf("probes = %+v", got)
		}
		checkProblems(t, m, nil)
	})

	t.Run("pods of one identity that disagree keep the first pod's probe and report the other", func(t *testing.T) {
		m := build(t, probePod("web-1", "web", web), probePod("web-2", "web", other))
		got := m.Identity(id("shop", "web")).HealthProbes
		if len(got) != 2 || got[0].Original.Port != 8080 {
			t.Errorf("probes = %+v", got)
		}
		checkProblems(t, m, []string{"Pod shop/web-2: metadata.annotations: its readiness probe on port 15902 goes to HTTP port 9090/healthz"})
	})

	t.Run("an unreadable record is reported, not forwarded", func(t *testing.T) {
		m := build(t, probePod("web-1", "web", `{not json`))
		if got := m.Identity(id("shop", "web")).HealthProbes; len(got) != 0 {
			t.Errorf("probes = %+v", got)
		}
		checkProblems(t, m, []string{"Pod shop/web-1: metadata.annotations: annotation weft-mesh.io/health-probes"})
	})

	t.Run("a probe the injector never writes is not forwarded", func(t *testing.T) {
		m := build(t, probePod("web-1", "web", `[{"kind":"readiness","port":15000,"original":{"scheme":"HTTP","port":8080}}]`))
		if got := m.Identity(id("shop", "web")).HealthProbes; len(got) != 0 {
			t.Errorf("probes = %+v", got)
		}
	})
}
