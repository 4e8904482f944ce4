package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/weft-mesh/weft/pkg/k8s"
)

// cluster is a kube-apiserver and etcd with Weft's CRDs, and no controller
// manager: the harness writes what controllers would (pod IPs,
// EndpointSlices).
type cluster struct {
	env        *envtest.Environment
	config     *rest.Config
	client     client.Client
	kubeconfig string
}

// startCluster runs envtest outside a test (internal/testenv needs a
// testing.TB). The service range is a /16: a /24 holds 254 ClusterIPs.
func startCluster(root, dir string) (*cluster, error) {
	// envtest logs through controller-runtime, which warns with a stack when
	// no logger is set; its output is not the benchmark's.
	ctrllog.SetLogger(logr.Discard())
	assets, err := kubeAssets(root)
	if err != nil {
		return nil, err
	}
	env := &envtest.Environment{
		BinaryAssetsDirectory: assets,
		Scheme:                k8s.Scheme(),
		CRDDirectoryPaths:     []string{filepath.Join(root, "manifests", "crds")},
		ErrorIfCRDPathMissing: true,
	}
	api := env.ControlPlane.GetAPIServer()
	api.CertDir = filepath.Join(dir, "apiserver")
	if err := os.MkdirAll(api.CertDir, 0o700); err != nil {
		return nil, err
	}
	args := api.Configure()
	args.Set("service-cluster-ip-range", "10.96.0.0/16")
	// Without a request-header CA the apiserver logs the missing
	// extension-apiserver-authentication config endlessly.
	args.Set("requestheader-client-ca-file", filepath.Join(api.CertDir, "client-cert-auth-ca.crt"))
	args.Set("requestheader-allowed-names", "front-proxy-client")
	cfg, err := env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting kube-apiserver and etcd from %s: %w", assets, err)
	}
	c := &cluster{env: env, config: rest.CopyConfig(cfg)}
	// 32 writers at once: client-go's default 5 a second would take minutes.
	c.config.QPS, c.config.Burst = 2000, 4000
	if c.client, err = client.New(c.config, client.Options{Scheme: k8s.Scheme()}); err != nil {
		_ = env.Stop()
		return nil, err
	}
	c.kubeconfig = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(c.kubeconfig, env.KubeConfig, 0o600); err != nil {
		_ = env.Stop()
		return nil, err
	}
	return c, nil
}

func (c *cluster) stop() error { return c.env.Stop() }

// kubeAssets is $KUBEBUILDER_ASSETS, or the folder hack/kube-assets.sh fills
// (building the binaries on first use).
func kubeAssets(root string) (string, error) {
	if dir := os.Getenv("KUBEBUILDER_ASSETS"); dir != "" {
		return dir, nil
	}
	var stderr bytes.Buffer
	cmd := exec.Command(filepath.Join(root, "hack", "kube-assets.sh"))
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("hack/kube-assets.sh: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(out)), nil
}
