// Package certmanager signs the mesh's leaves through cert-manager: each leaf
// is a CertificateRequest against a configured Issuer or ClusterIssuer,
// created with cert-manager's own clientset, and the signed certificate is read
// from its status once cert-manager (or whatever signer serves that issuer)
// marks it Ready. It is a ca.Signer for ca.Manager.
//
// It must not import the catalog, pkg/envoy or pkg/xds.
package certmanager
