package main

import (
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"time"

	"github.com/spf13/cobra"

	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// options are weftd's flags.
type options struct {
	kubeconfig string
	// files, when set, run weftd without a cluster on these YAML files and
	// folders; stateDir then keeps the mesh root.
	files    []string
	stateDir string
	// level is the logger's level, which the MeshConfig may move.
	level *slog.LevelVar
	// xdsAddress is where proxies reach the ADS server, when not its Service.
	xdsAddress string
	// mesh is the mesh configuration every part is handed; run applies its
	// defaults and validates it once.
	mesh    mesh.Config
	verbose bool
	// logFormat: text or json.
	logFormat string

	caEnabled    bool
	caSecretName string
	allowNewRoot bool
	// certProvider is --certificate-provider; certManager its cert-manager
	// settings.
	certProvider string
	certManager  certManagerOptions
	// changed says whether a flag was set on the command line (nil: none
	// was, as when tests call run).
	changed        func(name string) bool
	xdsEnabled     bool
	xdsPort        int
	xdsServiceName string
	quietWindow    time.Duration
	maxDelay       time.Duration

	webhookEnabled  bool
	injectorEnabled bool
	webhookPort     int
	webhookCertDir  string
	healthAddr      string
	debugAddr       string
	pprof           bool

	leaderElect        bool
	leaseDuration      time.Duration
	leaseRenewDeadline time.Duration
	leaseRetryPeriod   time.Duration
	// leaderID is this replica's identity in the election; empty: the pod
	// name and a random suffix. Not a flag.
	leaderID string
}

func (o *options) addFlags(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; empty means in-cluster configuration or $KUBECONFIG")
	f.StringArrayVar(&o.files, "files", nil, "run without a cluster on these YAML files or folders (repeatable), following their edits; "+
		"the webhooks, the sidecar injector and policy statuses are then off (they need an API server); needs --state-dir")
	f.StringVar(&o.xdsAddress, "xds-address", "", "the host:port proxies reach the ADS server at, written into their bootstraps (default: <service-name>.<mesh-namespace>.svc.<cluster-domain>:<xds-port> in a cluster, localhost:<xds-port> with --files); its host is added to the ADS server's certificate")
	f.StringVar(&o.stateDir, "state-dir", "", "with --files: the folder keeping the mesh root (tls.crt, tls.key, ca.crt), created on first start and reused after")
	defaults := mesh.Defaults()
	f.StringVar(&o.mesh.Name, "mesh-name", defaults.Name, "the mesh's name, as namespaces' openservicemesh.io/monitored-by label says it")
	f.StringVar(&o.mesh.Namespace, "mesh-namespace", defaults.Namespace, "the namespace the control plane runs in")
	f.StringVar(&o.mesh.MeshConfigName, "mesh-config", defaults.MeshConfigName, "the MeshConfig to read, in the mesh namespace")
	f.StringVar(&o.mesh.TrustDomain, "trust-domain", defaults.TrustDomain, "the trust domain that ends every identity's certificate name")
	f.StringVar(&o.mesh.ClusterDomain, "cluster-domain", defaults.ClusterDomain, "the DNS domain of the cluster's Services")
	f.BoolVarP(&o.verbose, "verbose", "v", false, "log at debug level")
	f.StringVar(&o.logFormat, "log-format", logFormatText, "text or json (one JSON object a line); controller-runtime's and client-go's logs come out the same way")

	f.BoolVar(&o.caEnabled, "enable-ca", true, "run the certificate authority, internal or through cert-manager (--certificate-provider); needed by the xDS server")
	f.StringVar(&o.certProvider, flagCertProvider, providerInternal, "who signs the mesh's certificates: "+providerInternal+" (or "+providerTresor+", OSM's name), weftd's own CA with its root in --ca-secret; "+
		"or "+providerCertManager+", CertificateRequests against --cert-manager-issuer-name (weftd then keeps no root)")
	f.StringVar(&o.caSecretName, flagCASecret, "osm-ca-bundle", "the Secret in the mesh namespace that keeps the mesh's root (internal CA only)")
	f.BoolVar(&o.allowNewRoot, internalca.AllowNewRootFlag, false, "when the root Secret is missing but proxies or webhooks still trust the old root, mint a new root anyway (every meshed workload must then be restarted; internal CA only)")
	f.StringVar(&o.certManager.issuerName, flagCMIssuerName, "", "with --certificate-provider=cert-manager: the Issuer (in the mesh namespace) or ClusterIssuer that signs")
	f.StringVar(&o.certManager.issuerKind, flagCMIssuerKind, "Issuer", "with --certificate-provider=cert-manager: Issuer or ClusterIssuer (an external issuer's kind with its --cert-manager-issuer-group)")
	f.StringVar(&o.certManager.issuerGroup, flagCMIssuerGroup, "cert-manager.io", "with --certificate-provider=cert-manager: the issuer's API group")
	f.StringVar(&o.certManager.trustBundle, flagCMTrustBundle, "", "with --certificate-provider=cert-manager: the roots the issuer chains to, as Secret/<name>/<key> or ConfigMap/<name>/<key> in the mesh namespace, read at start "+
		"(OSM v1.2 read Secret/osm-ca-bundle/ca.crt); empty: trust the CA cert-manager reports in each CertificateRequest's status.ca")
	f.BoolVar(&o.xdsEnabled, "enable-xds", true, "serve configuration to the proxies over ADS")
	f.IntVar(&o.xdsPort, "xds-port", 15128, "port of the ADS server (mTLS)")
	f.StringVar(&o.xdsServiceName, "service-name", "weftd", "weftd's Service in the mesh namespace, which proxies and the API server reach (names its serving certificate)")
	f.DurationVar(&o.quietWindow, "coalesce-quiet", 0, "recompute once the cluster has been quiet this long (0: the default)")
	f.DurationVar(&o.maxDelay, "coalesce-max-delay", 0, "recompute at the latest this long after a change (0: the default)")

	f.BoolVar(&o.webhookEnabled, "enable-webhooks", true, "serve the admission webhooks")
	f.BoolVar(&o.injectorEnabled, "enable-injector", true, "inject sidecars into pods of meshed namespaces (a webhook; needs the CA)")
	f.IntVar(&o.webhookPort, "webhook-port", 9443, "port of the admission webhook server (TLS)")
	f.StringVar(&o.webhookCertDir, "webhook-cert-dir", "", "folder holding the webhook server's tls.crt and tls.key; empty: a certificate from the mesh CA, whose roots weftd writes into the webhook configurations' caBundle")
	f.StringVar(&o.healthAddr, "health-addr", ":9091", "address serving /healthz, /readyz, /metrics and /debug/proxy-status (read by weft proxy status through the API server's pod proxy)")
	f.BoolVar(&o.leaderElect, "leader-elect", true, "elect a leader among weftd's replicas with the Lease "+leaseName+" in the mesh namespace: "+
		"every replica serves ADS and the webhooks, only the leader writes (the mesh root Secret, bootstrap Secrets, the ingress gateway's Secret, webhook caBundles, policy statuses and events)")
	f.DurationVar(&o.leaseDuration, "leader-elect-lease-duration", 15*time.Second, "how long followers wait before taking a Lease its leader stopped renewing")
	f.DurationVar(&o.leaseRenewDeadline, "leader-elect-renew-deadline", 10*time.Second, "how long the leader retries renewing its Lease before giving it up (and exiting)")
	f.DurationVar(&o.leaseRetryPeriod, "leader-elect-retry-period", 2*time.Second, "how often replicas try to take or renew the Lease")
	f.BoolVar(&o.pprof, "enable-pprof", false, "serve Go's profiles at /debug/pprof/ on --debug-addr (go tool pprof http://127.0.0.1:9092/debug/pprof/heap)")
	f.StringVar(&o.debugAddr, "debug-addr", "127.0.0.1:9092", "address serving /debug/ (every identity's configuration): loopback by default, reached with kubectl port-forward")
}

func (o *options) logLevel() slog.Level {
	if o.verbose {
		return slog.LevelDebug
	}
	return slog.LevelInfo
}

// xdsEndpoint is where proxies reach the ADS server: --xds-address, or
// weftd's Service.
func (o options) xdsEndpoint() (injector.XDSEndpoint, error) {
	if o.xdsAddress == "" {
		return injector.XDSEndpointFor(o.xdsServiceName, o.mesh, uint32(o.xdsPort)), nil
	}
	host, port, err := net.SplitHostPort(o.xdsAddress)
	n, perr := strconv.ParseUint(port, 10, 16)
	if err != nil || perr != nil || host == "" || n == 0 {
		return injector.XDSEndpoint{}, fmt.Errorf("--xds-address %q: want host:port", o.xdsAddress)
	}
	if net.ParseIP(host) != nil {
		return injector.XDSEndpoint{}, fmt.Errorf("--xds-address %q: the host must be a DNS name (such as localhost): proxies verify weftd's certificate, which names DNS names only", o.xdsAddress)
	}
	return injector.XDSEndpoint{Host: host, Port: uint32(n), ServerName: host}, nil
}
