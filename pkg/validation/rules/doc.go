// Package rules holds the checks that admission (pkg/validation) and the
// catalog both apply to the same input, so that what the webhook refuses and
// what the catalog skips are decided by one function: whether Envoy's RE2 takes
// a regular expression, and whether a string is an Egress host.
//
// It is a leaf: it imports only the standard library, so that the catalog can
// use it without the webhook's dependencies (controller-runtime, client-go).
// Each function returns an error whose text is the reason alone; callers name
// the object and the field.
package rules
