// Package validation checks the mesh's policies for what a CRD schema cannot
// say (a TrafficTarget outside its destination's namespace, a CIDR that does not
// parse, a negative split weight, two UpstreamTrafficSettings for one host, a
// regular expression Envoy's RE2 would refuse, an Egress host that is no host)
// and serves those checks as a validating admission webhook.
//
// Every error names the object, the field and what is wrong, in the
// Kubernetes "is invalid" form users know from the API server. The rules are pure
// functions; only the webhook reads other objects, through a client.Reader. The
// rules the catalog applies too (Envoy's regular expressions, Egress hosts) live
// in the leaf package rules, which both import, so that what admission refuses
// and what the catalog skips are decided once.
package validation
