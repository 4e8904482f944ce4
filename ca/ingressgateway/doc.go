// Package ingressgateway keeps the ingress controller's client certificate:
// when MeshConfig spec.certificate.ingressGateway is set, a certificate with
// its subjectAltNames and validityDuration lives in a kubernetes.io/tls Secret
// (tls.crt, tls.key, ca.crt) at its secret name and namespace. The Reconciler
// creates it, renews it, replaces it when the section changes and deletes it
// when the section goes. It only ever touches Secrets it labelled itself.
//
// In a cluster the Secrets are in the API (APIStore) and Run watches the
// MeshConfig; in files mode (weftd --files) they are folders under
// <state-dir>/secrets/<namespace>/<name>/ (FolderStore) and Follow takes the
// MeshConfig the control-plane loop reads, through a Feed.
//
// It must not import the catalog, pkg/envoy or pkg/xds.
package ingressgateway
