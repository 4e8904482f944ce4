// Package internalca is Weft's own certificate authority: a root (or a CA the
// user brings) kept in a Secret in the mesh namespace, created once and reused
// after every restart, that signs the mesh's leaves for ca.Manager.
//
// The Secret holds tls.crt (the signing CA, then any intermediates above it),
// tls.key (its key) and ca.crt (every root peers trust; during a root rotation,
// the old and the new). A Secret that cannot be read is reported, naming it and
// the key at fault, and is never overwritten. Every proxy trusts that root, so
// losing it must never silently change it: a Secret deleted while Weft runs is
// restored from the running root, and a missing Secret is replaced by a new
// root only when nothing still trusts the old one (SecretStore.TrustedElsewhere)
// or the operator allows it (SecretStore.AllowNewRoot).
//
// Without a cluster (weftd --files), FileStore keeps the same three values as
// files in a folder, created once (the key with mode 0600) and reused on
// every restart; a malformed file is reported, naming it, and never
// overwritten.
//
// It must not import the catalog, pkg/envoy or pkg/xds.
package internalca
