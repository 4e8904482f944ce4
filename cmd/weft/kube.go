package main

import (
	"fmt"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/pkg/k8s"
)

// kubeFlags are the flags every verb that talks to the cluster shares.
type kubeFlags struct {
	kubeconfig string
	context    string
	meshName   string
}

func (k *kubeFlags) add(cmd *cobra.Command) {
	k.addCluster(cmd)
	cmd.Flags().StringVar(&k.meshName, "mesh-name", "osm", "the mesh's name")
}

// addCluster adds the flags that say which cluster to talk to.
func (k *kubeFlags) addCluster(cmd *cobra.Command) {
	cmd.Flags().StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig file; empty means $KUBECONFIG or ~/.kube/config")
	cmd.Flags().StringVar(&k.context, "context", "", "the kubeconfig context to use; empty means its current context")
}

// restConfig loads the kubeconfig: the file given, else $KUBECONFIG or
// ~/.kube/config, else the in-cluster configuration.
func (k *kubeFlags) restConfig() (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = k.kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: k.context}).ClientConfig()
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
