// Package k8s reads the mesh's state: the scheme of every kind Weft reads, YAML
// decoding, and the state sources that feed the catalog (step 1 of the pipeline
// in DESIGN.md):
//
//   - Source is the interface: Run announces immutable State snapshots.
//   - ClusterSource watches a cluster with client-go, smi-sdk-go and dynamic
//     informers and coalesces bursts of events (Coalescer) before announcing.
//   - FilesSource reads a folder of multi-document YAML and, following it with
//     fsnotify, re-reads it after each (coalesced) burst of changes; `weft
//     render`, `weftd --files` and the local demo run on it.
//   - PolicyStatusWriter writes policy statuses and events, GAMMA routes'
//     status.parents, and for Gateways of Weft's GatewayClass the class's,
//     the Gateways' and their routes' statuses (gatewaystatus.go).
//   - NewState is the one place that decides what a State holds (monitored
//     namespaces, the mesh's MeshConfig, Services that IngressBackends name), so
//     both sources agree.
//
// The State type itself lives in pkg/k8s/state, which imports only API types, so
// that the catalog can read it without importing client-go. The catalog and the
// xDS server never import this package's client-go parts; this package imports
// nothing of Weft's but API types and pkg/k8s/state.
package k8s
