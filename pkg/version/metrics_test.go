package version

import (
	"runtime"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestBuildInfoGauges(t *testing.T) {
	Version, GitCommit = "v1.2.3", "abc123"
	t.Cleanup(func() { Version, GitCommit = "dev", "unknown" })
	reg := prometheus.NewRegistry()
	reg.MustRegister(Collectors()...)
	want := `
# HELP weft_build_info Always 1; the build's version, commit and Go version are its labels.
# TYPE weft_build_info gauge
weft_build_info{commit="abc123",go_version="` + runtime.Version() + `",version="v1.2.3"} 1
# HELP osm_version_info Always 1; the build's version, build date and commit are its labels (OSM's name).
# TYPE osm_version_info gauge
osm_version_info{build_date="` + buildDate() + `",git_commit="abc123",version="v1.2.3"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "weft_build_info", "osm_version_info"); err != nil {
		t.Error(err)
	}
}
