package manifests_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/weft-mesh/weft/manifests"
)

// dashboard is the part of Grafana's dashboard JSON the tests read.
type dashboard struct {
	UID           string `json:"uid"`
	Title         string `json:"title"`
	SchemaVersion int    `json:"schemaVersion"`
	Templating    struct {
		List []struct {
			Name  string `json:"name"`
			Type  string `json:"type"`
			Query any    `json:"query"`
		} `json:"list"`
	} `json:"templating"`
	Panels []panel `json:"panels"`
}

type panel struct {
	ID      int     `json:"id"`
	Type    string  `json:"type"`
	Title   string  `json:"title"`
	Panels  []panel `json:"panels"`
	Targets []struct {
		Expr       string `json:"expr"`
		Datasource struct {
			UID string `json:"uid"`
		} `json:"datasource"`
	} `json:"targets"`
}

// TestChartShipsGrafanaDashboards renders the chart with its defaults and
// checks the dashboards' ConfigMap: the sidecar's label, both dashboards,
// each parsing, on the ${datasource} variable, every panel with a query.
// cmd/weftd's TestDashboardQueriesHaveData runs those queries on a real
// Prometheus.
func TestChartShipsGrafanaDashboards(t *testing.T) {
	objs := mustRender(t, "", chartNamespace)
	cm := find(t, objs, "ConfigMap", "weft-grafana-dashboards")
	if cm.GetLabels()["grafana_dashboard"] != "1" || cm.GetNamespace() != chartNamespace {
		t.Errorf("ConfigMap labels %v in %q, want grafana_dashboard: \"1\" in %s", cm.GetLabels(), cm.GetNamespace(), chartNamespace)
	}
	data, _ := field(t, cm, "data").(map[string]any)
	for _, name := range []string{"weft-control-plane.json", "weft-data-plane.json"} {
		t.Run(name, func(t *testing.T) {
			text, ok := data[name].(string)
			if !ok {
				t.Fatalf("the ConfigMap has no %s (keys %v)", name, keys(data))
			}
			var d dashboard
			if err := json.Unmarshal([]byte(text), &d); err != nil {
				t.Fatalf("%s does not parse: %v", name, err)
			}
			if d.UID == "" || d.Title == "" || d.SchemaVersion < 36 {
				t.Errorf("uid %q, title %q, schemaVersion %d", d.UID, d.Title, d.SchemaVersion)
			}
			hasDatasource := false
			for _, v := range d.Templating.List {
				if v.Name == "datasource" && v.Type == "datasource" && v.Query == "prometheus" {
					hasDatasource = true
				}
			}
			if !hasDatasource {
				t.Error("no datasource variable of type prometheus")
			}
			ids := map[int]string{}
			var walk func([]panel)
			walk = func(ps []panel) {
				for _, p := range ps {
					if other, dup := ids[p.ID]; dup {
						t.Errorf("panels %q and %q share id %d", other, p.Title, p.ID)
					}
					ids[p.ID] = p.Title
					if p.Type == "row" {
						walk(p.Panels)
						continue
					}
					exprs := 0
					for _, tg := range p.Targets {
						if strings.TrimSpace(tg.Expr) != "" {
							exprs++
						}
						if tg.Datasource.UID != "${datasource}" {
							t.Errorf("panel %q: a target's datasource is %q, want ${datasource}", p.Title, tg.Datasource.UID)
						}
					}
					if exprs == 0 {
						t.Errorf("panel %q has no target with an expr", p.Title)
					}
				}
			}
			walk(d.Panels)
			if len(ids) < 5 {
				t.Errorf("only %d panels", len(ids))
			}
		})
	}

	t.Run("the embedded chart holds them too", func(t *testing.T) {
		c, err := manifests.Chart()
		if err != nil {
			t.Fatal(err)
		}
		embedded, err := manifests.Render(c, map[string]any{}, chartNamespace)
		if err != nil {
			t.Fatal(err)
		}
		got, _ := field(t, find(t, embedded, "ConfigMap", "weft-grafana-dashboards"), "data").(map[string]any)
		if len(got) != len(data) {
			t.Errorf("the embedded chart's ConfigMap has %v, the chart folder's %v", keys(got), keys(data))
		}
	})

	t.Run("grafana.dashboards.enabled=false leaves them out", func(t *testing.T) {
		objs, err := renderChart(t, map[string]any{"grafana": map[string]any{"dashboards": map[string]any{"enabled": false}}}, chartNamespace)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.GetKind() == "ConfigMap" && o.GetName() == "weft-grafana-dashboards" {
				t.Error("the dashboards' ConfigMap is rendered")
			}
		}
	})
}

func keys(m map[string]any) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
