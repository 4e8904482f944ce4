package envoy

import (
	"errors"
	"fmt"
	"path"
	"time"

	bootstrapv3 "github.com/envoyproxy/go-control-plane/envoy/config/bootstrap/v3"
	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	httpv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/upstreams/http/v3"
	discoveryv3 "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/durationpb"
)

// BootstrapConfig is what a sidecar's bootstrap needs.
type BootstrapConfig struct {
	// NodeID and Cluster identify the proxy to the control plane.
	NodeID, Cluster string
	// XDSHost and XDSPort are the control plane's ADS address (a DNS name or
	// an IP).
	XDSHost string
	XDSPort uint32
	// XDSServerName, when set, is the SNI sent to the control plane and the
	// DNS SAN its certificate must carry.
	XDSServerName string
	// CertChainFile, PrivateKeyFile and TrustedCAFile are the paths of the
	// proxy certificate, its key and the mesh roots in the sidecar.
	CertChainFile, PrivateKeyFile, TrustedCAFile string
	// SDSDirectory holds the two SDS files (BootstrapSDSFiles) through which
	// the xDS cluster reads those three files. Envoy watches the directory and
	// rereads them when it changes (a Kubernetes Secret volume swaps its
	// contents atomically), so a renewed proxy certificate is used without a
	// restart. Empty means the folder of CertChainFile.
	SDSDirectory string
}

// Names of the SDS secrets and files through which the xDS cluster reads the
// proxy certificate and the mesh roots.
const (
	XDSClientCertSecretName = "weft-xds-client-cert"
	XDSRootsSecretName      = "weft-xds-roots"
	XDSClientCertSDSFile    = "xds-client-cert-sds.json"
	XDSRootsSDSFile         = "xds-roots-sds.json"
)

func (c BootstrapConfig) sdsDirectory() string {
	if c.SDSDirectory != "" {
		return c.SDSDirectory
	}
	return path.Dir(c.CertChainFile)
}

// BootstrapSDSFiles are the files, by name, that belong in SDSDirectory beside
// the bootstrap: SDS discovery responses naming the certificate, key and roots
// by path.
func BootstrapSDSFiles(c BootstrapConfig) (map[string][]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	watched := &corev3.WatchedDirectory{Path: path.Dir(c.CertChainFile)}
	secrets := map[string]*tlsv3.Secret{
		XDSClientCertSDSFile: {Name: XDSClientCertSecretName, Type: &tlsv3.Secret_TlsCertificate{TlsCertificate: &tlsv3.TlsCertificate{
			CertificateChain: file(c.CertChainFile), PrivateKey: file(c.PrivateKeyFile), WatchedDirectory: watched,
		}}},
		XDSRootsSDSFile: {Name: XDSRootsSecretName, Type: &tlsv3.Secret_ValidationContext{ValidationContext: &tlsv3.CertificateValidationContext{
			TrustedCa: file(c.TrustedCAFile), WatchedDirectory: watched,
		}}},
	}
	out := map[string][]byte{}
	for name, secret := range secrets {
		if err := secret.ValidateAll(); err != nil {
			return nil, fmt.Errorf("envoy bootstrap: %s: %w", name, err)
		}
		a, err := anypb.New(secret)
		if err != nil {
			return nil, err
		}
		b, err := MarshalJSON(&discoveryv3.DiscoveryResponse{Resources: []*anypb.Any{a}})
		if err != nil {
			return nil, err
		}
		out[name] = b
	}
	return out, nil
}

// fileSDS reads an SDS secret from a file in dir, reread when dir changes.
func fileSDS(name, dir, file string) *tlsv3.SdsSecretConfig {
	return &tlsv3.SdsSecretConfig{Name: name, SdsConfig: &corev3.ConfigSource{
		ResourceApiVersion: corev3.ApiVersion_V3,
		ConfigSourceSpecifier: &corev3.ConfigSource_PathConfigSource{PathConfigSource: &corev3.PathConfigSource{
			Path: path.Join(dir, file), WatchedDirectory: &corev3.WatchedDirectory{Path: dir},
		}},
	}}
}

func (c BootstrapConfig) validate() error {
	var errs []error
	for field, v := range map[string]string{
		"NodeID": c.NodeID, "Cluster": c.Cluster, "XDSHost": c.XDSHost,
		"CertChainFile": c.CertChainFile, "PrivateKeyFile": c.PrivateKeyFile, "TrustedCAFile": c.TrustedCAFile,
	} {
		if v == "" {
			errs = append(errs, fmt.Errorf("%s is empty", field))
		}
	}
	if c.XDSPort == 0 || c.XDSPort > 65535 {
		errs = append(errs, fmt.Errorf("XDSPort %d is not a port", c.XDSPort))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("envoy bootstrap: %w", err)
	}
	return nil
}

// A sidecar pings the control plane over HTTP/2 every XDSKeepaliveInterval
// and drops the connection, to open a new one, when a ping is not answered
// within XDSKeepaliveTimeout: a connection whose close it never saw (a lost
// reset) does not keep it waiting for configuration.
const (
	XDSKeepaliveInterval = 30 * time.Second
	XDSKeepaliveTimeout  = 10 * time.Second
)

// Bootstrap is a sidecar's bootstrap: the admin endpoint on 127.0.0.1:15000,
// the node, and every other resource over ADS (gRPC, xDS v3) from the static
// cluster weft-xds, reached over HTTP/2 and mTLS with the proxy certificate
// read from files through file-based SDS (BootstrapSDSFiles), so that a
// renewed certificate is picked up without restarting Envoy.
func Bootstrap(c BootstrapConfig) (*bootstrapv3.Bootstrap, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	h2, err := anypb.New(&httpv3.HttpProtocolOptions{
		UpstreamProtocolOptions: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_{ExplicitHttpConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig{
			ProtocolConfig: &httpv3.HttpProtocolOptions_ExplicitHttpConfig_Http2ProtocolOptions{Http2ProtocolOptions: &corev3.Http2ProtocolOptions{
				ConnectionKeepalive: &corev3.KeepaliveSettings{Interval: durationpb.New(XDSKeepaliveInterval), Timeout: durationpb.New(XDSKeepaliveTimeout)},
			}},
		}},
	})
	if err != nil {
		return nil, err
	}
	dir := c.sdsDirectory()
	serverName := &tlsv3.CertificateValidationContext{}
	if c.XDSServerName != "" {
		serverName.MatchTypedSubjectAltNames = []*tlsv3.SubjectAltNameMatcher{{SanType: tlsv3.SubjectAltNameMatcher_DNS, Matcher: exact(c.XDSServerName)}}
	}
	tlsCtx, err := anypb.New(&tlsv3.UpstreamTlsContext{
		Sni: c.XDSServerName,
		CommonTlsContext: &tlsv3.CommonTlsContext{
			TlsParams:                      &tlsv3.TlsParameters{TlsMinimumProtocolVersion: tlsv3.TlsParameters_TLSv1_2},
			TlsCertificateSdsSecretConfigs: []*tlsv3.SdsSecretConfig{fileSDS(XDSClientCertSecretName, dir, XDSClientCertSDSFile)},
			ValidationContextType: &tlsv3.CommonTlsContext_CombinedValidationContext{CombinedValidationContext: &tlsv3.CommonTlsContext_CombinedCertificateValidationContext{
				DefaultValidationContext:         serverName,
				ValidationContextSdsSecretConfig: fileSDS(XDSRootsSecretName, dir, XDSRootsSDSFile),
			}},
			AlpnProtocols: []string{"h2"},
		},
	})
	if err != nil {
		return nil, err
	}
	xds := &clusterv3.Cluster{
		Name:                          XDSClusterName,
		ConnectTimeout:                durationpb.New(defaultConnectTimeout),
		ClusterDiscoveryType:          &clusterv3.Cluster_Type{Type: clusterv3.Cluster_LOGICAL_DNS},
		DnsLookupFamily:               clusterv3.Cluster_V4_PREFERRED,
		LoadAssignment:                singleEndpoint(XDSClusterName, c.XDSHost, c.XDSPort),
		TypedExtensionProtocolOptions: map[string]*anypb.Any{httpProtocolOptionsKey: h2},
		TransportSocket:               &corev3.TransportSocket{Name: "envoy.transport_sockets.tls", ConfigType: &corev3.TransportSocket_TypedConfig{TypedConfig: tlsCtx}},
	}
	b := &bootstrapv3.Bootstrap{
		Node: &corev3.Node{Id: c.NodeID, Cluster: c.Cluster},
		Admin: &bootstrapv3.Admin{
			Address: socketAddress("127.0.0.1", AdminPort),
		},
		DynamicResources: &bootstrapv3.Bootstrap_DynamicResources{
			AdsConfig: &corev3.ApiConfigSource{
				ApiType:                   corev3.ApiConfigSource_GRPC,
				TransportApiVersion:       corev3.ApiVersion_V3,
				SetNodeOnFirstMessageOnly: true,
				GrpcServices: []*corev3.GrpcService{{TargetSpecifier: &corev3.GrpcService_EnvoyGrpc_{
					EnvoyGrpc: &corev3.GrpcService_EnvoyGrpc{ClusterName: XDSClusterName},
				}}},
			},
			LdsConfig: adsSource(),
			CdsConfig: adsSource(),
		},
		StaticResources: &bootstrapv3.Bootstrap_StaticResources{Clusters: []*clusterv3.Cluster{xds}},
	}
	if err := b.ValidateAll(); err != nil {
		return nil, fmt.Errorf("envoy bootstrap: %w", err)
	}
	return b, nil
}

// BootstrapJSON is Bootstrap as indented JSON, which Envoy reads as YAML too.
func BootstrapJSON(c BootstrapConfig) ([]byte, error) {
	b, err := Bootstrap(c)
	if err != nil {
		return nil, err
	}
	return MarshalJSON(b)
}

func file(path string) *corev3.DataSource {
	return &corev3.DataSource{Specifier: &corev3.DataSource_Filename{Filename: path}}
}
