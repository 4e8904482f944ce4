// Package manifests owns what installs Weft on a cluster: the Helm chart
// charts/weft (weftd's Deployment, Service and RBAC, the webhook
// configurations, the MeshConfig preset) and the CRDs in crds/ (generated;
// `make manifests` copies them into the chart). The chart is embedded, so
// `weft install` needs no checkout, and rendered here for the tests that need
// its objects.
package manifests

import (
	"embed"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/engine"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/weft-mesh/weft/pkg/k8s"
)

//go:embed all:charts/weft
var chartFiles embed.FS

const chartRoot = "charts/weft"

// Chart loads the embedded chart. Its ci/ folder (values for the chart's own
// tests) is left out.
func Chart() (*chart.Chart, error) {
	var files []*loader.BufferedFile
	err := fs.WalkDir(chartFiles, chartRoot, func(name string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel := strings.TrimPrefix(name, chartRoot+"/")
		if strings.HasPrefix(rel, "ci/") {
			return nil
		}
		data, err := fs.ReadFile(chartFiles, name)
		if err != nil {
			return err
		}
		files = append(files, &loader.BufferedFile{Name: rel, Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return loader.LoadFiles(files)
}

// Render renders the chart as `helm install --namespace namespace` would,
// values checked against its schema, and decodes the objects in file order.
// CRDs are not among them: they are the chart's crds/ folder.
func Render(c *chart.Chart, values map[string]any, namespace string) ([]*unstructured.Unstructured, error) {
	rv, err := chartutil.ToRenderValues(c, values, chartutil.ReleaseOptions{Name: "weft", Namespace: namespace, IsInstall: true}, chartutil.DefaultCapabilities)
	if err != nil {
		return nil, err
	}
	files, err := engine.Render(c, rv)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	slices.Sort(names)
	var objs []*unstructured.Unstructured
	for _, name := range names {
		if path.Ext(name) != ".yaml" || strings.TrimSpace(files[name]) == "" {
			continue
		}
		decoded, err := k8s.DecodeYAML(strings.NewReader(files[name]))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		objs = append(objs, decoded...)
	}
	return objs, nil
}
