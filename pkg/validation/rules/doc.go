// Package rules is the one rule set for the mesh's policies: what admission
// (pkg/validation's webhook) refuses and what the catalog skips are decided
// here, by the same functions, so that `weft render` never shows as working
// what the cluster refuses.
//
// Each per-object rule (TrafficTarget, HTTPRouteGroup, TCPRoute, TrafficSplit,
// IngressBackend, Egress, UpstreamTrafficSetting, Retry, MeshConfig) is a pure
// function of the typed object that returns field errors, in the Kubernetes
// "is invalid" form users know from the API server. The webhook refuses an
// object with any of them; the catalog records each one as a Problem with the
// same field path and message, and skips the object, or only the element of a
// list the error is under (one host of an Egress, one backend of a split). A
// rule that needs other objects (a second UpstreamTrafficSetting for a host)
// is the webhook's to check against the cluster and the catalog's to apply to
// its snapshot, oldest first, with the same words (HostClaimed). Rules also
// restate what the CRD schemas enforce wherever the catalog would otherwise
// read the value (an enum such as a method or a rate-limit unit), because the
// files `weft render` reads pass through no schema.
//
// It is a leaf: besides the API types it checks, it imports only the standard
// library and k8s.io/apimachinery/pkg/util/validation/field, so that the
// catalog uses it without the webhook's dependencies (controller-runtime,
// client-go). The helpers that check one string (EnvoyRegex, EgressHost,
// ServerName) return an error whose text is the reason alone.
package rules
