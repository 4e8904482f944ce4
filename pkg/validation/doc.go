// Package validation serves the mesh's rules as a validating admission webhook:
// what a CRD schema cannot say (a TrafficTarget outside its destination's
// namespace, a CIDR that does not parse, a negative split weight, a regular
// expression Envoy's RE2 would refuse, an Egress host that is no host) and
// what needs the cluster (two UpstreamTrafficSettings for one host).
//
// Every error names the object, the field and what is wrong, in the
// Kubernetes "is invalid" form users know from the API server. The per-object
// rules are not here: they live in the leaf package rules, which the catalog
// calls too, so that what admission refuses and what the catalog skips are
// decided once, in the same words. Only the webhook reads other objects,
// through a client.Reader; and only the MeshConfig's certificate settings are
// checked here (with the CA's own rules), since the catalog does not read them.
package validation
