// Package catalog is the meaning of the mesh: a pure function, Build, from one
// snapshot of state (pkg/k8s.State) to the Model that the xDS generator reads:
//
//  1. services, their ports (with protocols), endpoints and the identities
//     serving them;
//  2. per identity (service account), what it may receive and from whom
//     (permissive mode, or SMI TrafficTargets with HTTP and TCP routes);
//  3. per identity, what it may reach, with TrafficSplits (or GAMMA routes,
//     Gateway API HTTPRoutes and GRPCRoutes whose parent is a Service, which
//     take precedence), Retries and UpstreamTrafficSettings attached;
//  4. IngressBackend rules with their sources resolved, Egress rules and
//     egress passthrough; Gateways of Weft's GatewayClass
//     (GatewayControllerName) as gateway proxies with their listeners
//     (certificates read from their Secrets) and attached HTTPRoutes, whose
//     backends admit the gateway's identity (gateway.go);
//  5. Problems: every piece of input skipped, and why, so that it can become a
//     status condition and an event. What admission refuses is decided by the
//     webhook's own functions (pkg/validation/rules), which the catalog calls on
//     every object it reads: their errors become problems with the webhook's
//     field path and message, and skip the object or the element at fault;
//  6. a hash per identity of everything its proxies depend on, so that
//     ChangedIdentities tells the generator which proxies a change touched.
//
// Model.CheckAccess answers, from the model alone, whether a source may reach
// a Service port with a request, and which rule decides (`weft policy check`):
// the same semantics the generator writes into Envoy, not a second rule set.
//
// The catalog owns the mesh's semantics and nothing else. It must not import
// client-go's clients or informers, Envoy or go-control-plane types, and it
// holds no clock, goroutine or global state: the same State always gives the same
// Model, and no input, however wrong, makes it panic. It reads the State's
// objects and never modifies them.
package catalog
