package main

import (
	"fmt"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/pkg/k8s"
)

// kubeFlags are the flags every verb that talks to the cluster shares:
// kubectl's (cli-runtime's ConfigFlags: --kubeconfig, --context, --cluster,
// --user, --as, --as-group, --request-timeout, ...) and the mesh's name.
type kubeFlags struct {
	config   *genericclioptions.ConfigFlags
	meshName string
}

func (k *kubeFlags) add(cmd *cobra.Command) {
	k.addCluster(cmd)
	cmd.Flags().StringVar(&k.meshName, "mesh-name", "osm", "the mesh's name")
}

// addCluster adds kubectl's cluster flags without -n/--namespace: the verbs
// that install a mesh name its namespace with --mesh-namespace (OSM's
// --osm-namespace), and -n must not read as that.
func (k *kubeFlags) addCluster(cmd *cobra.Command) {
	k.config = genericclioptions.NewConfigFlags(true)
	k.config.Namespace = nil
	k.config.AddFlags(cmd.Flags())
}

// addClusterWithNamespace adds kubectl's cluster flags with -n/--namespace,
// the workload's namespace (the kubeconfig context's when not given).
func (k *kubeFlags) addClusterWithNamespace(cmd *cobra.Command) {
	k.config = genericclioptions.NewConfigFlags(true)
	k.config.AddFlags(cmd.Flags())
}

// namespace is -n, else the kubeconfig context's namespace, else "default".
func (k *kubeFlags) namespace() (string, error) {
	ns, _, err := k.config.ToRawKubeConfigLoader().Namespace()
	return ns, err
}

// restConfig loads the kubeconfig as kubectl does: --kubeconfig, else
// $KUBECONFIG or ~/.kube/config, else the in-cluster configuration, with the
// flags' overrides.
func (k *kubeFlags) restConfig() (*rest.Config, error) {
	cfg, err := k.config.ToRESTConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	return cfg, nil
}

func (k *kubeFlags) client() (kubernetes.Interface, error) {
	cfg, err := k.restConfig()
	if err != nil {
		return nil, err
	}
	return kubernetes.NewForConfig(cfg)
}

// objectClient returns a controller-runtime client that knows Weft's kinds
// and CRDs.
func (k *kubeFlags) objectClient() (client.Client, error) {
	cfg, err := k.restConfig()
	if err != nil {
		return nil, err
	}
	scheme := k8s.Scheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// inNamespace is the flags as Helm's RESTClientGetter, with namespace as the
// default namespace of the objects Helm makes.
func (k *kubeFlags) inNamespace(namespace string) genericclioptions.RESTClientGetter {
	return namespacedGetter{k.config, namespace}
}

type namespacedGetter struct {
	*genericclioptions.ConfigFlags
	namespace string
}

func (g namespacedGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return namespacedConfig{g.ConfigFlags.ToRawKubeConfigLoader(), g.namespace}
}

// namespacedConfig is a kubeconfig whose namespace is fixed.
type namespacedConfig struct {
	base      clientcmd.ClientConfig
	namespace string
}

func (c namespacedConfig) RawConfig() (clientcmdapi.Config, error) { return c.base.RawConfig() }
func (c namespacedConfig) ClientConfig() (*rest.Config, error)     { return c.base.ClientConfig() }
func (c namespacedConfig) ConfigAccess() clientcmd.ConfigAccess    { return c.base.ConfigAccess() }
func (c namespacedConfig) Namespace() (string, bool, error)        { return c.namespace, true, nil }
