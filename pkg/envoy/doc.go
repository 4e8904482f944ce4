// Package envoy turns one proxy's slice of the mesh model into Envoy v3
// resources, in the shape Open Service Mesh users know: the outbound listener
// on 15001, the inbound listener on 15003 (mTLS, RBAC), the Prometheus
// listener on 15010, RDS route configurations, EDS clusters and their
// ClusterLoadAssignments, and the names of the SDS secrets they reference.
// A gateway proxy (ProxyGateway, a Gateway of Weft's GatewayClass) gets a
// listener per Gateway port instead, routing by the attached HTTPRoutes to
// the same mTLS clusters (gateway.go), and its listeners' certificates as
// SDS secrets built from the model (Resources.GatewaySecrets).
//
// It owns:
//
//  1. Generator.Generate (and Generate, for one proxy): (catalog.Model,
//     Proxy) -> Resources, every list sorted by name;
//  2. the SDS secrets built from PEM (ServiceCertSecret, RootCertSecret) and
//     the secret names (ServiceCertSecretName, ParseSecretName...);
//  3. the bootstrap the injector writes (Bootstrap, BootstrapJSON);
//  4. the /config_dump-shaped view of generated resources (ConfigDump);
//  5. Resources.Validate: Envoy's proto constraints and closed references
//     (ValidateWith a ValidationCache checks what configurations share once).
//
// # Passes
//
// Generate first plans the proxy from its catalog.IdentityView (plan*.go):
// which filter chains survive their listener's conflicts (chainSet claims),
// which domains each virtual host takes, which clusters the chains and
// routes reach (split backends, local apps, Egress hosts). Every decision
// that more than one resource type depends on is made there, once. Then one
// pass per type translates the plan: listeners (listener*.go, which name
// routes and clusters only), routes (route.go), clusters (cluster.go),
// endpoints (endpoint.go) and secret names (secret.go).
//
// # What proxies share
//
// A Generator serves every proxy of one model and builds what does not depend
// on the proxy once, on first use:
//
//   - a Service port's ClusterLoadAssignment (the same message for every
//     proxy);
//   - most of a Service port's cluster (upstream): connect timeout, circuit
//     breakers, EDS config, HTTP protocol options, SNI, the SAN matchers of
//     the Service's identities and its roots' SDS config. The Cluster itself
//     and its UpstreamTlsContext are the proxy's: the context names the
//     proxy's own certificate (service-cert:<ns>/<sa>, OSM's name), and the
//     context is packed into an Any per proxy;
//   - the HTTP connection manager of an outbound port (rds-outbound.<port>,
//     rds-egress.<port>), the Prometheus listener, the metrics and
//     passthrough clusters.
//
// The rest depends on the identity or its pods: which Services it reaches
// and how (retries, split weights, GAMMA routes' rules: route_gamma.go), the
// Host domains (the short name only resolves in the Service's namespace),
// inbound chains and RBAC, named targetPorts (resolved by the pod's IPs),
// Egress clusters (merged from the identity's rules in order). So resources of
// several proxies share messages, and nothing may modify what Generate
// returns.
//
// The generator reads no client, clock or global state and starts no
// goroutine; a Generator's caches hold only what its model determines. It
// imports no client-go and no catalog-building code: only the catalog's model
// types, which it never modifies.
package envoy
