package proxyless

import (
	"fmt"
	"path/filepath"

	"github.com/google/uuid"
	corev1 "k8s.io/api/core/v1"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
)

// Annotation asks for a proxyless workload; KindGRPC is the only kind.
const (
	Annotation = "weft.dev/proxyless"
	KindGRPC   = "grpc"
)

// The files of a workload's folder.
const (
	// BootstrapFile is the gRPC bootstrap; point GRPC_XDS_BOOTSTRAP at it.
	BootstrapFile = "bootstrap.json"
	// XDSCertFile and XDSKeyFile are the proxy certificate and key of the
	// ADS stream.
	XDSCertFile = "xds.crt"
	XDSKeyFile  = "xds.key"
	// CertFile and KeyFile are the workload's service certificate and key.
	CertFile = "tls.crt"
	KeyFile  = "tls.key"
	// CAFile holds the mesh roots.
	CAFile = "ca.crt"
)

// FromPod reports whether the pod asks to be a proxyless gRPC workload. An
// annotation with another value is an error naming it.
func FromPod(pod *corev1.Pod) (bool, error) {
	v, ok := pod.Annotations[Annotation]
	switch {
	case !ok:
		return false, nil
	case v == KindGRPC:
		return true, nil
	}
	return false, fmt.Errorf("pod %s/%s: annotation %s: %q is not a proxyless kind (want %q)", pod.Namespace, pod.Name, Annotation, v, KindGRPC)
}

// proxyIDSpace makes the proxy IDs of pods without a UID (pods in files).
var proxyIDSpace = uuid.MustParse("4c8a8f25-61c9-4a3e-9c0b-5f1e3f0b7a11")

// ProxyOfPod is the proxy a proxyless pod runs as: its identity is the pod's
// namespace and service account; its ID the pod's UID, or, for a pod without
// one (in files), a UUID derived from its namespace and name, the same on
// every start.
func ProxyOfPod(pod *corev1.Pod) (ca.Proxy, error) {
	id := string(pod.UID)
	if u, err := uuid.Parse(id); err == nil {
		id = u.String()
	} else {
		id = uuid.NewSHA1(proxyIDSpace, []byte(pod.Namespace+"/"+pod.Name)).String()
	}
	p := ca.Proxy{ID: id, Kind: ca.ProxyGRPC, Identity: identity.FromPod(pod)}
	if err := p.Validate(); err != nil {
		return ca.Proxy{}, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return p, nil
}

// Folder is a workload's files by name, for a folder at Dir.
type Folder struct {
	Proxy ca.Proxy
	// ProxyCert authenticates the ADS stream; ServiceCert is the identity's.
	ProxyCert, ServiceCert *ca.Certificate
	// Bundle is the mesh roots.
	Bundle []byte
	// TrustDomain ends the node ID; XDSServer is the ADS server's host:port.
	TrustDomain, XDSServer string
	// Dir is where the workload reads the files (the bootstrap names them
	// by absolute path).
	Dir string
}

// Files returns the folder's content.
func (f Folder) Files() (map[string][]byte, error) {
	in := func(name string) string { return filepath.Join(f.Dir, name) }
	bootstrap, err := envoy.GRPCBootstrapJSON(envoy.GRPCBootstrapConfig{
		NodeID:      f.Proxy.CommonName(f.TrustDomain),
		Cluster:     f.Proxy.Identity.ServiceAccount + "." + f.Proxy.Identity.Namespace,
		XDSServer:   f.XDSServer,
		XDSCertFile: in(XDSCertFile), XDSKeyFile: in(XDSKeyFile),
		CertFile: in(CertFile), KeyFile: in(KeyFile),
		CAFile: in(CAFile),
	})
	if err != nil {
		return nil, fmt.Errorf("proxy %s: %w", f.Proxy, err)
	}
	return map[string][]byte{
		BootstrapFile: bootstrap,
		XDSCertFile:   f.ProxyCert.CertChainPEM,
		XDSKeyFile:    f.ProxyCert.PrivateKeyPEM,
		CertFile:      f.ServiceCert.CertChainPEM,
		KeyFile:       f.ServiceCert.PrivateKeyPEM,
		CAFile:        f.Bundle,
	}, nil
}
