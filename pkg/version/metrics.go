package version

import (
	"runtime"
	"runtime/debug"

	"github.com/prometheus/client_golang/prometheus"
)

// Collectors are the build's gauges, each always 1 with the build in its
// labels: weft_build_info, and OSM's osm_version_info for OSM's dashboards.
func Collectors() []prometheus.Collector {
	build := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "weft_build_info", Help: "Always 1; the build's version, commit and Go version are its labels.",
	}, []string{"version", "commit", "go_version"})
	build.WithLabelValues(Version, GitCommit, runtime.Version()).Set(1)
	osm := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "osm_version_info", Help: "Always 1; the build's version, build date and commit are its labels (OSM's name).",
	}, []string{"version", "build_date", "git_commit"})
	osm.WithLabelValues(Version, buildDate(), GitCommit).Set(1)
	return []prometheus.Collector{build, osm}
}

// buildDate is the time of the commit the binary was built from, as Go
// records it; Weft's builds stamp no date of their own.
func buildDate() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, s := range info.Settings {
			if s.Key == "vcs.time" {
				return s.Value
			}
		}
	}
	return "unknown"
}
