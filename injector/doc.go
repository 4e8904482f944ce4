// Package injector owns sidecar injection: the mutating admission webhook that
// weftd serves at Path, the decision whether a pod is meshed (decide.go), the
// pod patch that adds the Envoy sidecar, the osm-init container and the proxy
// labels (patch.go), the rewriting of the app's health probes so that kubelet
// still reaches the app behind the sidecar (probes.go), the per-proxy bootstrap
// Secret holding Envoy's bootstrap and its proxy certificate (bootstrap.go), and
// the collector that deletes bootstrap Secrets no pod uses any more
// (collector.go). The traffic redirection rules live in the subpackage redirect.
//
// The flow, for one pod creation:
//
//  1. The API server calls the webhook (the chart's mutating webhook configuration) for
//     pods in monitored namespaces outside kube-system and the mesh namespace.
//  2. Webhook.Handle reads the pod's namespace through the caller's (cached)
//     getter and decides with Decide; a pod that is not meshed is allowed
//     untouched.
//  3. A fresh proxy UUID names the proxy; the CA issues its proxy certificate
//     and the bootstrap Secret is created in the pod's namespace (not on dry
//     runs).
//  4. Inject, a pure function of the pod and the MeshConfig, returns the
//     mutated pod; the response is the JSON patch between the two.
//
// Everything but Webhook.Handle and the collector is pure: no client, clock or
// goroutine. The package imports ca, pkg/envoy (for the bootstrap),
// pkg/apis and pkg/k8s/state (a Gateway's service account name, for the pods
// pkg/gateway provisions, which it serves as proxies of kind gateway); it
// must not import the catalog or pkg/xds, which consume what it
// writes (the osm-proxy-uuid label and the health-probe annotation), never the
// reverse.
package injector
