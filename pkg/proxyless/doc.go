// Package proxyless owns what makes a pod a proxyless gRPC workload of the
// mesh, with no sidecar: the pod annotation that asks for it
// (weft.dev/proxyless: grpc), the proxy a pod runs as, and the folder of files
// its gRPC library reads (a GRPC_XDS_BOOTSTRAP bootstrap, the proxy
// certificate that authenticates its ADS stream, its service certificate and
// the mesh roots).
//
// FileWriter keeps those folders current for the pods of weftd's files mode
// (weftd --files), under <state-dir>/pods/<namespace>/<pod>/, renewing the
// certificates in place before they are due. The resources such a workload is
// served are the proxyless flavour of pkg/envoy.
package proxyless
