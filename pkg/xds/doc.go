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
//  4. A configuration whose content changed is validated (Options.Validate,
//     by default ValidateEnvoy: Envoy's constraints and closed references)
//     before it is published. One that fails is not: the proxy keeps its last
//     good configuration, or gets none, and the failure is counted in
//     weft_xds_invalid_configs_total, logged once per identity and failure,
//     and listed by InvalidConfigs until a valid one replaces it.
//  5. The snapshot is set in go-control-plane's snapshot cache, unless the
//     proxy disconnected while it was computed: the last stream's close
//     clears the proxy's snapshot, and nothing sets it again.
//  6. go-control-plane's snapshot cache answers the proxies' watches; the
//     stream callbacks here authenticate every stream, confine each proxy to
//     its own secrets, and turn NACKs into counted, logged, non-repeating events.
//
// What one proxy can cost is bounded, so that an authenticated but hostile or
// broken proxy cannot exhaust weftd (each limit is an Options field, with the
// default in brackets):
//
//   - streams on one gRPC connection, MaxStreamsPerConnection [16], and open
//     xDS streams of one proxy certificate, MaxStreamsPerProxy [8]; a stream
//     beyond the latter is refused with ResourceExhausted;
//   - the size of a request, MaxMessageBytes [4 MiB], and the resource names
//     in it, MaxResourceNames [20,000];
//   - type URLs: a request for a type the server cannot serve (one a
//     go-control-plane snapshot does not hold) is refused before it creates a
//     watch, and metrics label types by the served ones or "unknown";
//   - the log: at most LogLines [10] lines about one proxy each LogInterval [1m],
//     the next saying how many were suppressed, and the values a proxy chooses
//     (node IDs, names, type URLs, NACK details) cut to a few hundred bytes.
//
// ProxyStatuses reports, for every connected proxy and each of CDS, EDS, LDS,
// RDS and SDS, the version last sent, the version last acknowledged and the
// NACK of the latest response (callbacks match answers to responses by
// nonce); it is forgotten with the proxy's last stream. metrics.go lists the
// metrics, Weft's own and OSM's.
//
// Refusals are counted in weft_xds_refused_requests_total by reason:
// unauthenticated, node_mismatch, unknown_type, too_many_names, foreign_secret,
// too_many_streams.
//
// The package holds no Kubernetes client and never imports client-go.
package xds
