// Package testenv starts a real Kubernetes control plane for tests: etcd and
// kube-apiserver through controller-runtime's envtest, Weft's CRDs installed,
// and, on request, kube-controller-manager so that Deployments make Pods and
// namespaces finish deleting.
//
// The binaries come from hack/kube-assets.sh, which builds them from the Go
// module proxy once and caches them under $HOME/.cache/weft. Tests that need an
// API server call Start; nothing else in Weft imports this package.
package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"github.com/weft-mesh/weft/internal/repo"
	"github.com/weft-mesh/weft/manifests"
	"github.com/weft-mesh/weft/pkg/k8s"
)

// Env is a running control plane.
type Env struct {
	// Config reaches the API server as a cluster administrator.
	Config *rest.Config
	// Client is a controller-runtime client whose scheme knows Kubernetes' and
	// Weft's own types.
	Client client.Client
	// Scheme is Client's scheme.
	Scheme *runtime.Scheme
	// KubeconfigPath is an administrator kubeconfig file, for kubectl.
	KubeconfigPath string
	// Webhook is where a test serves the webhooks it asked for with WithWebhooks.
	Webhook *envtest.WebhookInstallOptions
	// RepoRoot is the repository's top folder.
	RepoRoot string

	env *envtest.Environment
}

type options struct {
	webhookKinds      []string
	controllerManager bool
	gatewayAPI        bool
}

// Option changes what Start starts.
type Option func(*options)

// The chart's webhook configurations a test can install with WithWebhooks.
const (
	ValidatingWebhooks = "ValidatingWebhookConfiguration"
	MutatingWebhooks   = "MutatingWebhookConfiguration"
)

// WithWebhooks installs the chart's webhook configurations of these kinds, as
// `weft install` makes them for the mesh osm in osm-system, pointed at a local
// server the test runs at env.Webhook.
func WithWebhooks(kinds ...string) Option {
	return func(o *options) { o.webhookKinds = append(o.webhookKinds, kinds...) }
}

// chartWebhooks renders the chart with its defaults and returns the webhook
// configurations of the kinds asked for.
func chartWebhooks(kinds []string) (validating []*admissionregistrationv1.ValidatingWebhookConfiguration, mutating []*admissionregistrationv1.MutatingWebhookConfiguration, err error) {
	if len(kinds) == 0 {
		return nil, nil, nil
	}
	c, err := manifests.Chart()
	if err != nil {
		return nil, nil, err
	}
	objs, err := manifests.Render(c, nil, "osm-system")
	if err != nil {
		return nil, nil, err
	}
	for _, obj := range objs {
		if !slices.Contains(kinds, obj.GetKind()) {
			continue
		}
		switch obj.GetKind() {
		case ValidatingWebhooks:
			v := &admissionregistrationv1.ValidatingWebhookConfiguration{}
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, v)
			validating = append(validating, v)
		case MutatingWebhooks:
			m := &admissionregistrationv1.MutatingWebhookConfiguration{}
			err = runtime.DefaultUnstructuredConverter.FromUnstructured(obj.Object, m)
			mutating = append(mutating, m)
		}
		if err != nil {
			return nil, nil, err
		}
	}
	return validating, mutating, nil
}

// WithControllerManager also runs kube-controller-manager, for tests that need
// Deployments to make Pods, EndpointSlices to fill, default ServiceAccounts, or
// namespaces to finish deleting.
func WithControllerManager() Option {
	return func(o *options) { o.controllerManager = true }
}

// WithGatewayAPI also installs Gateway API's standard-channel GatewayClass,
// Gateway, HTTPRoute, GRPCRoute and ReferenceGrant CRDs, from the
// gateway-api module go.mod names.
func WithGatewayAPI() Option {
	return func(o *options) { o.gatewayAPI = true }
}

// gatewayCRDs are the Gateway API CRD files GAMMA needs, read from the module
// cache so that they are the version the types come from.
func gatewayCRDs(root string) ([]string, error) {
	cmd := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "sigs.k8s.io/gateway-api")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("finding the gateway-api module: %w", err)
	}
	dir := filepath.Join(strings.TrimSpace(string(out)), "config", "crd", "standard")
	var files []string
	for _, r := range []string{"httproutes", "grpcroutes", "referencegrants", "gatewayclasses", "gateways"} {
		files = append(files, filepath.Join(dir, "gateway.networking.k8s.io_"+r+".yaml"))
	}
	return files, nil
}

// Start starts a control plane with Weft's CRDs installed and stops it when the
// test ends.
func Start(t testing.TB, opts ...Option) *Env {
	t.Helper()
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	root, err := RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	assets, err := Assets()
	if err != nil {
		t.Fatal(err)
	}
	scheme := k8s.Scheme()

	certDir := t.TempDir()
	env := &envtest.Environment{
		BinaryAssetsDirectory:    assets,
		Scheme:                   scheme,
		CRDDirectoryPaths:        []string{filepath.Join(root, "manifests", "crds")},
		ErrorIfCRDPathMissing:    true,
		AttachControlPlaneOutput: os.Getenv("WEFT_TEST_CONTROL_PLANE_OUTPUT") != "",
	}
	if o.gatewayAPI {
		files, err := gatewayCRDs(root)
		if err != nil {
			t.Fatal(err)
		}
		env.CRDDirectoryPaths = append(env.CRDDirectoryPaths, files...)
	}
	validating, mutating, err := chartWebhooks(o.webhookKinds)
	if err != nil {
		t.Fatal(err)
	}
	env.WebhookInstallOptions.ValidatingWebhooks, env.WebhookInstallOptions.MutatingWebhooks = validating, mutating
	apiServer := env.ControlPlane.GetAPIServer()
	apiServer.CertDir = certDir
	args := apiServer.Configure()
	// Without a request-header CA the apiserver and controller manager log the
	// missing extension-apiserver-authentication config endlessly.
	args.Set("requestheader-client-ca-file", filepath.Join(certDir, "client-cert-auth-ca.crt"))
	args.Set("requestheader-allowed-names", "front-proxy-client")
	// Lets the apiserver call a webhook Service at its endpoint IP (there is no
	// kube-proxy here).
	args.Set("enable-aggregator-routing", "true")

	cfg, err := env.Start()
	if err != nil {
		t.Fatalf("starting kube-apiserver and etcd from %s: %v", assets, err)
	}
	e := &Env{Config: cfg, Scheme: scheme, env: env, RepoRoot: root, Webhook: &env.WebhookInstallOptions}
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Logf("stopping the control plane: %v", err)
		}
	})
	e.Client, err = client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		t.Fatal(err)
	}
	e.KubeconfigPath = filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(e.KubeconfigPath, env.KubeConfig, 0o600); err != nil {
		t.Fatal(err)
	}
	if o.controllerManager {
		startControllerManager(t, e, assets, certDir, apiServer.SecureServing.CA)
	}
	return e
}

func startControllerManager(t testing.TB, e *Env, assets, certDir string, servingCA []byte) {
	t.Helper()
	rootCA := filepath.Join(certDir, "serving-ca.crt")
	if err := os.WriteFile(rootCA, servingCA, 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(assets, "kube-controller-manager"),
		"--kubeconfig", e.KubeconfigPath,
		"--authentication-kubeconfig", e.KubeconfigPath,
		"--authorization-kubeconfig", e.KubeconfigPath,
		"--controllers", "*",
		"--leader-elect=false",
		"--use-service-account-credentials=false",
		"--service-account-private-key-file", filepath.Join(certDir, "sa-signer.key"),
		"--root-ca-file", rootCA,
		"--allocate-node-cidrs", "--cluster-cidr", "10.244.0.0/16",
		"--bind-address", "127.0.0.1", "--secure-port", "0",
	)
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	// Registered after the control plane's cleanup, so it runs first.
	RunProcess(t, "kube-controller-manager", cmd, logs.String)
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

var (
	assetsOnce sync.Once
	assetsDir  string
	assetsErr  error
)

// Assets returns the folder holding etcd, kube-apiserver and
// kube-controller-manager: $KUBEBUILDER_ASSETS when set, else the cache that
// hack/kube-assets.sh fills (building the binaries on first use).
func Assets() (string, error) {
	assetsOnce.Do(func() {
		if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
			assetsDir = dir
			return
		}
		root, err := RepoRoot()
		if err != nil {
			assetsErr = err
			return
		}
		var stderr bytes.Buffer
		cmd := exec.Command(filepath.Join(root, "hack", "kube-assets.sh"))
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			assetsErr = fmt.Errorf("hack/kube-assets.sh: %v\n%s", err, tail(stderr.String(), 4000))
			return
		}
		assetsDir = strings.TrimSpace(string(out))
	})
	return assetsDir, assetsErr
}

// RepoRoot finds the repository's top folder from the working directory.
func RepoRoot() (string, error) { return repo.Root() }

// HostIPv4 is an address of this machine, not loopback or link-local, that
// the API server accepts in EndpointSlices and Pod statuses and proxies to;
// the test is skipped on a machine without one.
func HostIPv4(t testing.TB) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no IPv4 address on this machine that is not loopback: the API server refuses loopback addresses in EndpointSlices and will not proxy to them")
	return ""
}

// FreePorts returns n distinct ports on host ("" for every address) that were
// free a moment ago.
func FreePorts(t testing.TB, host string, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// RunProcess starts cmd and stops it when the test ends (an interrupt, then
// a kill after 5 s), printing the tail of logs() if the test failed.
func RunProcess(t testing.TB, name string, cmd *exec.Cmd, logs func() string) {
	t.Helper()
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("%s output (tail):\n%s", name, tail(logs(), 4000))
		}
	})
}
