package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// options are weftd's flags.
type options struct {
	kubeconfig     string
	meshName       string
	meshNamespace  string
	meshConfigName string
	verbose        bool

	webhookEnabled bool
	webhookPort    int
	webhookCertDir string
	healthAddr     string
}

func (o *options) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; empty means in-cluster configuration or $KUBECONFIG")
	f.StringVar(&o.meshName, "mesh-name", "osm", "the mesh's name, as namespaces' openservicemesh.io/monitored-by label says it")
	f.StringVar(&o.meshNamespace, "mesh-namespace", "osm-system", "the namespace the control plane runs in")
	f.StringVar(&o.meshConfigName, "mesh-config", configv1alpha2.DefaultMeshConfigName, "the MeshConfig to read, in the mesh namespace")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log at debug level")
	f.BoolVar(&o.webhookEnabled, "enable-webhooks", true, "serve the admission webhooks")
	f.IntVar(&o.webhookPort, "webhook-port", 9443, "port of the admission webhook server (TLS)")
	f.StringVar(&o.webhookCertDir, "webhook-cert-dir", "/etc/weft/webhook-certs", "folder holding the webhook server's tls.crt and tls.key")
	f.StringVar(&o.healthAddr, "health-addr", ":9091", "address serving /healthz and /readyz")
}

func (o *options) logLevel() slog.Level {
	if o.verbose {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
