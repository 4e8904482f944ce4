// Package xds serves configuration to the mesh's proxies over the Aggregated
// Discovery Service, state-of-the-world and incremental (delta), on gRPC with
// mutual TLS.
//
// The flow, for one change:
//
//  1. The caller (weftd) learns that a change touched some identities (from the
//     catalog) or renewed a certificate (from the CA) and calls Server.Push with
//     a predicate naming the affected proxies.
//  2. Push recomputes only the connected proxies the predicate selects, with the
//     ConfigFunc the caller supplied (the pure generator in pkg/envoy).
//  3. The Publisher versions each resource type by the hash of its content, so
//     identical configuration keeps its version and nothing is sent.
//  4. go-control-plane's snapshot cache answers the proxies' watches; the
//     stream callbacks here authenticate every stream, confine each proxy to
//     its own secrets, and turn NACKs into counted, logged, non-repeating events.
//
// The package holds no Kubernetes client and never imports client-go.
package xds
