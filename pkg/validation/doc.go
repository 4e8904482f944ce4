// Package validation checks the mesh's policies for what a CRD schema cannot
// say (a TrafficTarget outside its destination's namespace, a CIDR that does not
// parse, a negative split weight, two UpstreamTrafficSettings for one host) and
// serves those checks as a validating admission webhook.
//
// Every error names the object, the field and what is wrong, in the
// Kubernetes "is invalid" form users know from the API server. The rules are pure
// functions; only the webhook reads other objects, through a client.Reader.
package validation
