package envoy

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"path"
)

// What a proxyless gRPC workload's resources and bootstrap agree on.
const (
	// CertificateProviderInstance is the bootstrap's certificate provider
	// (grpc-go's file_watcher) that the proxyless flavour's TLS contexts
	// name: the workload's service certificate, its key and the mesh roots,
	// read from files and reread when they change. gRPC takes no SDS.
	CertificateProviderInstance = "weft-mesh"
	// GRPCServerListenerTemplate names the listener a gRPC xDS server asks for:
	// %s is the address it listens on, such as 10.1.2.3:8080.
	GRPCServerListenerTemplate = "grpc/server?xds.resource.listening_address=%s"
)

// GRPCBootstrapConfig is what a proxyless gRPC workload's bootstrap
// (GRPC_XDS_BOOTSTRAP) needs.
type GRPCBootstrapConfig struct {
	// NodeID and Cluster identify the workload to the control plane; NodeID
	// must be its proxy certificate's CN.
	NodeID, Cluster string
	// XDSServer is the control plane's ADS address, host:port. The host is
	// the name the control plane's certificate must carry.
	XDSServer string
	// XDSCertFile and XDSKeyFile are the proxy certificate and key that
	// authenticate the workload to the control plane.
	XDSCertFile, XDSKeyFile string
	// CertFile and KeyFile are the workload's service certificate and key,
	// which its gRPC clients and servers present to each other.
	CertFile, KeyFile string
	// CAFile holds the mesh roots: they verify the control plane and peers.
	CAFile string
	// RefreshInterval is how often gRPC rereads the files; zero means 10s.
	RefreshInterval string
}

type grpcBootstrap struct {
	XDSServers           []grpcXDSServer             `json:"xds_servers"`
	Node                 grpcNode                    `json:"node"`
	CertificateProviders map[string]grpcCertProvider `json:"certificate_providers"`
	ServerListenerName   string                      `json:"server_listener_resource_name_template"`
}

type grpcXDSServer struct {
	ServerURI      string            `json:"server_uri"`
	ChannelCreds   []grpcChannelCred `json:"channel_creds"`
	ServerFeatures []string          `json:"server_features"`
}

type grpcChannelCred struct {
	Type   string         `json:"type"`
	Config map[string]any `json:"config"`
}

type grpcNode struct {
	ID      string `json:"id"`
	Cluster string `json:"cluster"`
}

type grpcCertProvider struct {
	PluginName string         `json:"plugin_name"`
	Config     map[string]any `json:"config"`
}

func (c GRPCBootstrapConfig) validate() error {
	if c.NodeID == "" || c.Cluster == "" {
		return errors.New("gRPC bootstrap: the node ID and cluster are required")
	}
	if _, _, err := net.SplitHostPort(c.XDSServer); err != nil {
		return fmt.Errorf("gRPC bootstrap: xDS server %q is not host:port: %w", c.XDSServer, err)
	}
	for name, f := range map[string]string{"xDS certificate": c.XDSCertFile, "xDS key": c.XDSKeyFile, "certificate": c.CertFile, "key": c.KeyFile, "roots": c.CAFile} {
		if !path.IsAbs(f) {
			return fmt.Errorf("gRPC bootstrap: the %s file %q is not an absolute path", name, f)
		}
	}
	return nil
}

// GRPCBootstrapJSON is a proxyless gRPC workload's bootstrap: state-of-the-world
// ADS over mTLS with its proxy certificate, its identity as the node, the
// certificate provider the generated TLS contexts name, and the server
// listener name template.
func GRPCBootstrapJSON(c GRPCBootstrapConfig) ([]byte, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	refresh := c.RefreshInterval
	if refresh == "" {
		refresh = "10s"
	}
	b := grpcBootstrap{
		XDSServers: []grpcXDSServer{{
			ServerURI: c.XDSServer,
			ChannelCreds: []grpcChannelCred{{Type: "tls", Config: map[string]any{
				"ca_certificate_file": c.CAFile,
				"certificate_file":    c.XDSCertFile,
				"private_key_file":    c.XDSKeyFile,
				"refresh_interval":    refresh,
			}}},
			ServerFeatures: []string{"xds_v3"},
		}},
		Node: grpcNode{ID: c.NodeID, Cluster: c.Cluster},
		CertificateProviders: map[string]grpcCertProvider{CertificateProviderInstance: {
			PluginName: "file_watcher",
			Config: map[string]any{
				"certificate_file":    c.CertFile,
				"private_key_file":    c.KeyFile,
				"ca_certificate_file": c.CAFile,
				"refresh_interval":    refresh,
			},
		}},
		ServerListenerName: GRPCServerListenerTemplate,
	}
	return json.MarshalIndent(b, "", "  ")
}
