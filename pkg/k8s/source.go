package k8s

import "context"

// Source yields snapshots of the mesh's state. Both implementations, the cluster
// (ClusterSource) and a folder of YAML (FilesSource), build their snapshots with
// NewState, so the same objects give the same State.
type Source interface {
	// Run watches until ctx ends. It calls announce with a first State once
	// everything has been read, then with a new State after each (coalesced)
	// change; calls never overlap, and a State is never modified once
	// announced. Run returns ctx's error when ctx ends, or the error that stopped
	// it from starting.
	Run(ctx context.Context, announce func(*State)) error
}

var (
	_ Source = (*ClusterSource)(nil)
	_ Source = (*FilesSource)(nil)
)
