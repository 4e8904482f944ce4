// Package redirect owns the traffic redirection rules the init container
// installs in a meshed pod's network namespace: inbound TCP to the sidecar's
// inbound listener, outbound TCP to its outbound listener, the proxy's own
// traffic (UID 1500) and loopback left alone, and the exclusions a MeshConfig
// and the pod's annotations ask for.
//
// Rules are produced as iptables-restore input, so they can be read, tested in a
// real network namespace, and applied in one atomic step. The package imports no
// Kubernetes client.
package redirect
