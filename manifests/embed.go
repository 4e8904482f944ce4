// Package manifests holds what installs Weft on a cluster: the CRDs, weftd's
// Deployment, Service and RBAC, and the webhook configurations, embedded so
// that `weft install` needs no checkout. The YAML files are the source; this
// file only embeds them. charts/weft is the Helm chart of the same objects.
package manifests

import "embed"

// Files are the manifests: crds/, weftd/ and webhooks/.
//
//go:embed crds/*.yaml weftd/*.yaml webhooks/*.yaml
var Files embed.FS
