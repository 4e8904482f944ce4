package injector

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/envoy"
)

// The bootstrap Secret: its name, labels and keys.
const (
	// BootstrapSecretPrefix + proxy UUID names a proxy's bootstrap Secret.
	BootstrapSecretPrefix = "envoy-bootstrap-config-"
	// LabelManagedBy is "weft" on every Secret the injector writes.
	LabelManagedBy = "app.kubernetes.io/managed-by"
	managedByWeft  = "weft"

	// BootstrapFileName is Envoy's bootstrap (envoy.BootstrapJSON).
	BootstrapFileName = "bootstrap.json"
	// The proxy certificate chain, its key and the mesh's roots: what the
	// bootstrap's xDS cluster authenticates with.
	CertChainFileName  = "tls.crt"
	PrivateKeyFileName = "tls.key"
	TrustedCAFileName  = "ca.crt"
)

// BootstrapSecretName is the name of the proxy's bootstrap Secret.
func BootstrapSecretName(proxyID string) string { return BootstrapSecretPrefix + proxyID }

// XDSEndpoint is where sidecars reach the control plane's ADS server.
type XDSEndpoint struct {
	// Host and Port are the ADS server's address, such as
	// weftd.osm-system.svc.cluster.local:15128.
	Host string
	Port uint32
	// ServerName is the SNI sidecars send and the DNS SAN the server's
	// certificate must carry, such as weftd.osm-system.svc.
	ServerName string
}

// BootstrapSecret builds the proxy's bootstrap Secret in its namespace:
// Envoy's bootstrap naming the proxy by its certificate's CN (the node ID the
// ADS server requires), the proxy certificate and key, and the mesh's roots.
// BootstrapSecrets writes it once the pod exists, owned by the pod.
func BootstrapSecret(p ca.Proxy, cert *ca.Certificate, trustDomain string, xds XDSEndpoint) (*corev1.Secret, error) {
	config := envoy.BootstrapConfig{
		NodeID:         p.CommonName(trustDomain),
		Cluster:        p.Identity.ServiceAccount + "." + p.Identity.Namespace,
		XDSHost:        xds.Host,
		XDSPort:        xds.Port,
		XDSServerName:  xds.ServerName,
		CertChainFile:  BootstrapMountPath + "/" + CertChainFileName,
		PrivateKeyFile: BootstrapMountPath + "/" + PrivateKeyFileName,
		TrustedCAFile:  BootstrapMountPath + "/" + TrustedCAFileName,
	}
	bootstrap, err := envoy.BootstrapJSON(config)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", p, err)
	}
	sds, err := envoy.BootstrapSDSFiles(config)
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", p, err)
	}
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      BootstrapSecretName(p.ID),
			Namespace: p.Identity.Namespace,
			Labels: map[string]string{
				LabelProxyUUID:                p.ID,
				LabelManagedBy:                managedByWeft,
				"app.kubernetes.io/component": "envoy-bootstrap",
			},
		},
		Type: corev1.SecretTypeOpaque,
		Data: map[string][]byte{
			BootstrapFileName:          bootstrap,
			envoy.XDSClientCertSDSFile: sds[envoy.XDSClientCertSDSFile],
			envoy.XDSRootsSDSFile:      sds[envoy.XDSRootsSDSFile],
			CertChainFileName:          cert.CertChainPEM,
			PrivateKeyFileName:         cert.PrivateKeyPEM,
			TrustedCAFileName:          cert.TrustBundlePEM,
		},
	}, nil
}
