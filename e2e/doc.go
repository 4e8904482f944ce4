// Package e2e holds end-to-end tests: Weft's manifests, examples and binaries
// against a real kube-apiserver and etcd (internal/testenv), and, as the mesh
// grows, real xDS clients and the demo.
package e2e
