// Package version holds the build's version, set by the linker (see Makefile).
package version

import "fmt"

var (
	// Version is the release, such as v0.1.0; "dev" for local builds.
	Version = "dev"
	// GitCommit is the commit the binary was built from.
	GitCommit = "unknown"
)

// String is the version as the binaries print it.
func String() string {
	return fmt.Sprintf("%s (commit %s)", Version, GitCommit)
}
