// Package internalca is Weft's own certificate authority: a root (or a CA the
// user brings) kept in a Secret in the mesh namespace, created once and reused
// after every restart, that signs the mesh's leaves for ca.Manager.
//
// The Secret holds tls.crt (the signing CA, then any intermediates above it),
// tls.key (its key) and ca.crt (every root peers trust; during a root rotation,
// the old and the new). A Secret that cannot be read is reported, naming it and
// the key at fault, and is never overwritten.
//
// It must not import the catalog, pkg/envoy or pkg/xds.
package internalca
