package e2e

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/weft-mesh/weft/internal/meshrun"
	"github.com/weft-mesh/weft/internal/testenv"
)

// TestTrafficThroughTheMesh runs the bookstore story `make demo` runs, with
// real gRPC xDS clients and servers as the pods, served by the weftd binary
// on files: permissive mode, deny by default, a TrafficTarget with an
// HTTPRouteGroup, a TrafficSplit and its edit, and clients without a mesh
// certificate. Each step asserts what the calling client saw.
func TestTrafficThroughTheMesh(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	story := startBookstore(t, ctx)
	for _, step := range story.Steps() {
		if !t.Run(step.Name, func(t *testing.T) {
			said, err := step.Run(ctx)
			if err != nil {
				t.Fatal(err)
			}
			t.Log(said)
		}) {
			break // later steps build on this one
		}
	}
}

// startBookstore builds weftd and bookapp and starts demo/mesh's bookstore
// on files, stopped when the test ends.
func startBookstore(t *testing.T, ctx context.Context) *meshrun.Story {
	t.Helper()
	root, err := testenv.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	// WEFT_E2E_WORKDIR keeps the logs, files and state of a run.
	work := os.Getenv("WEFT_E2E_WORKDIR")
	if work == "" {
		work = t.TempDir()
	}
	bins, err := meshrun.Build(ctx, root, work)
	if err != nil {
		t.Fatal(err)
	}
	story, err := meshrun.StartBookstore(ctx, bins, root, work)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		story.Mesh.Stop()
		if t.Failed() {
			t.Logf("logs are in %s", work)
		}
	})
	return story
}
