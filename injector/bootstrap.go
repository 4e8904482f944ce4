package injector

import (
	"fmt"
	"net"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/proxyless"
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

// ProxylessMountPath is where the containers of a proxyless gRPC pod read its
// bootstrap Secret; GRPC_XDS_BOOTSTRAP names the bootstrap there.
const ProxylessMountPath = "/etc/weft/grpc"

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
	return bootstrapSecret(p, "envoy-bootstrap", map[string][]byte{
		BootstrapFileName:          bootstrap,
		envoy.XDSClientCertSDSFile: sds[envoy.XDSClientCertSDSFile],
		envoy.XDSRootsSDSFile:      sds[envoy.XDSRootsSDSFile],
		CertChainFileName:          cert.CertChainPEM,
		PrivateKeyFileName:         cert.PrivateKeyPEM,
		TrustedCAFileName:          cert.TrustBundlePEM,
	}), nil
}

// ProxylessSecret builds a proxyless gRPC pod's bootstrap Secret: the gRPC
// bootstrap naming the files at ProxylessMountPath, the proxy certificate
// (proxyCert) of its ADS stream, its identity's service certificate and the
// mesh roots (proxyless.Folder's files).
func ProxylessSecret(p ca.Proxy, proxyCert, serviceCert *ca.Certificate, trustDomain string, xds XDSEndpoint) (*corev1.Secret, error) {
	files, err := proxyless.Folder{
		Proxy: p, ProxyCert: proxyCert, ServiceCert: serviceCert, Bundle: proxyCert.TrustBundlePEM,
		TrustDomain: trustDomain, XDSServer: net.JoinHostPort(xds.Host, strconv.Itoa(int(xds.Port))), Dir: ProxylessMountPath,
	}.Files()
	if err != nil {
		return nil, err
	}
	return bootstrapSecret(p, "grpc-bootstrap", files), nil
}

func bootstrapSecret(p ca.Proxy, component string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{
			Name:      BootstrapSecretName(p.ID),
			Namespace: p.Identity.Namespace,
			Labels: map[string]string{
				LabelProxyUUID:                p.ID,
				LabelManagedBy:                managedByWeft,
				"app.kubernetes.io/component": component,
			},
		},
		Type: corev1.SecretTypeOpaque,
		Data: data,
	}
}
