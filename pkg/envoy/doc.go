// Package envoy turns one proxy's slice of the mesh model into Envoy v3
// resources, in the shape Open Service Mesh users know: the outbound listener
// on 15001, the inbound listener on 15003 (mTLS, RBAC), the Prometheus
// listener on 15010, RDS route configurations, EDS clusters and their
// ClusterLoadAssignments, and the names of the SDS secrets they reference.
//
// It owns:
//
//  1. Generate: (catalog.Model, Proxy) -> Resources, every list sorted by name;
//  2. the SDS secrets built from PEM (ServiceCertSecret, RootCertSecret) and
//     the secret names (ServiceCertSecretName, ParseSecretName...);
//  3. the bootstrap the injector writes (Bootstrap, BootstrapJSON);
//  4. the /config_dump-shaped view of generated resources (ConfigDump);
//  5. Resources.Validate: Envoy's proto constraints and closed references.
//
// The generator is a pure function: no client, clock, goroutine or global
// state. It imports no client-go and no catalog-building code: only the
// catalog's model types, which it never modifies.
package envoy
