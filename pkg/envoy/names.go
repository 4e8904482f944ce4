package envoy

import (
	"strconv"
	"strings"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/identity"
)

// Listener names and ports, as OSM v1.2 has them.
const (
	OutboundListenerName   = "outbound-listener"
	InboundListenerName    = "inbound-listener"
	PrometheusListenerName = "prometheus-listener"

	OutboundListenerPort   = 15001
	InboundListenerPort    = 15003
	PrometheusListenerPort = 15010
	AdminPort              = 15000
)

// Cluster names that do not come from a Service.
const (
	// PassthroughClusterName sends a connection on to its original destination
	// (egress passthrough, and Egress IP ranges).
	PassthroughClusterName = "passthrough-outbound"
	// MetricsClusterName is Envoy's own admin endpoint, for Prometheus.
	MetricsClusterName = "envoy-metrics-cluster"
	// XDSClusterName is the bootstrap's static cluster of the control plane.
	XDSClusterName = "weft-xds"
)

// SDS secret name prefixes.
const (
	serviceCertPrefix  = "service-cert:"
	outboundRootPrefix = "root-cert-for-mtls-outbound:"
	inboundRootPrefix  = "root-cert-for-mtls-inbound:"
)

// ServiceCertSecretName names the proxy's own certificate: service-cert:<ns>/<sa>.
func ServiceCertSecretName(id identity.Identity) string { return serviceCertPrefix + id.String() }

// OutboundRootSecretName names the roots that validate an upstream Service:
// root-cert-for-mtls-outbound:<ns>/<svc>.
func OutboundRootSecretName(svc catalog.ServiceRef) string { return outboundRootPrefix + svc.String() }

// InboundRootSecretName names the roots that validate the proxy's clients:
// root-cert-for-mtls-inbound:<ns>/<sa>.
func InboundRootSecretName(id identity.Identity) string { return inboundRootPrefix + id.String() }

// SecretKind says what an SDS secret holds.
type SecretKind int

// Kinds of SDS secrets.
const (
	// SecretServiceCert is a certificate and key (ServiceCertSecret) of the
	// identity SecretRef names.
	SecretServiceCert SecretKind = iota + 1
	// SecretOutboundRoot is the trust bundle (RootCertSecret) for the upstream
	// Service SecretRef names.
	SecretOutboundRoot
	// SecretInboundRoot is the trust bundle (RootCertSecret) for clients of the
	// identity SecretRef names.
	SecretInboundRoot
)

// SecretRef is an SDS secret name taken apart.
type SecretRef struct {
	Kind SecretKind
	// Namespace and Name are the identity's (service account) for
	// SecretServiceCert and SecretInboundRoot, the Service's for
	// SecretOutboundRoot.
	Namespace, Name string
}

// ParseSecretName reads an SDS name this package generates; ok is false for
// any other name.
func ParseSecretName(name string) (ref SecretRef, ok bool) {
	for _, k := range []struct {
		prefix string
		kind   SecretKind
	}{{serviceCertPrefix, SecretServiceCert}, {outboundRootPrefix, SecretOutboundRoot}, {inboundRootPrefix, SecretInboundRoot}} {
		rest, found := strings.CutPrefix(name, k.prefix)
		if !found {
			continue
		}
		ns, n, found := strings.Cut(rest, "/")
		if !found || ns == "" || n == "" || strings.Contains(n, "/") {
			return SecretRef{}, false
		}
		return SecretRef{Kind: k.kind, Namespace: ns, Name: n}, true
	}
	return SecretRef{}, false
}

// ClusterName names the cluster of a Service port: <ns>/<svc>|<port>.
func ClusterName(svc catalog.ServiceRef, port int32) string {
	return svc.String() + "|" + strconv.Itoa(int(port))
}

// LocalClusterName names the cluster of the local app behind a Service port:
// <ns>/<svc>|<port>|local.
func LocalClusterName(svc catalog.ServiceRef, port int32) string {
	return ClusterName(svc, port) + "|local"
}

// EgressClusterName names the cluster of an Egress host: <host>:<port>.
func EgressClusterName(host string, port int32) string {
	return host + ":" + strconv.Itoa(int(port))
}

func outboundRouteName(port uint32) string { return "rds-outbound." + strconv.Itoa(int(port)) }
func egressRouteName(port int32) string    { return "rds-egress." + strconv.Itoa(int(port)) }
func inboundRouteName(svc catalog.ServiceRef, port int32) string {
	return "rds-inbound." + ClusterName(svc, port)
}

func portString(p int32) string { return strconv.Itoa(int(p)) }
