package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"github.com/weft-mesh/weft/injector"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

type uninstallOptions struct {
	install           installOptions // the same objects, found the same way
	deleteClusterWide bool
	deleteNamespace   bool
}

func newUninstallCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "uninstall", Short: "Uninstall parts of the mesh"}
	var o uninstallOptions
	mesh := &cobra.Command{
		Use:   "mesh",
		Short: "Remove the mesh's control plane and what it left in the cluster",
		Long: `uninstall mesh removes the webhook configurations first (so that no pod creation
waits on a control plane that is going away), then weftd's Deployment, Service, RBAC and
leader election Lease, and the Secrets weftd wrote: per-proxy bootstrap Secrets in every namespace and the
ingress controller's client certificate. Running sidecars keep their last configuration
until their pods are restarted.

With --delete-cluster-wide-resources it also deletes the CRDs, and with them every mesh
policy and the MeshConfig; with --delete-namespace, the mesh namespace and the mesh's
root CA Secret in it.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), cmd.OutOrStdout()) },
	}
	f := mesh.Flags()
	f.StringVar(&o.install.kubeconfig, "kubeconfig", "", "kubeconfig file; empty means $KUBECONFIG or ~/.kube/config")
	f.StringVar(&o.install.meshName, "mesh-name", "osm", "the mesh's name")
	f.StringVar(&o.install.meshNamespace, "mesh-namespace", manifestNamespace, "the control plane's namespace")
	f.StringVar(&o.install.meshNamespace, "osm-namespace", manifestNamespace, "the control plane's namespace (OSM's flag name)")
	f.BoolVar(&o.deleteClusterWide, "delete-cluster-wide-resources", false, "also delete the CRDs, with every mesh policy and the MeshConfig")
	f.BoolVar(&o.deleteNamespace, "delete-namespace", false, "also delete the mesh namespace, with the mesh's root CA Secret")
	cmd.AddCommand(mesh)
	return cmd
}

func (o *uninstallOptions) run(ctx context.Context, out io.Writer) error {
	c, err := newClient(o.install.kubeconfig)
	if err != nil {
		return err
	}
	o.install.weftdImage = manifestImage
	objs, err := o.install.objects()
	if err != nil {
		return err
	}
	var webhooks, controlPlane, crds []*unstructured.Unstructured
	for _, obj := range objs {
		switch obj.GetKind() {
		case "ValidatingWebhookConfiguration", "MutatingWebhookConfiguration":
			webhooks = append(webhooks, obj)
		case "CustomResourceDefinition":
			crds = append(crds, obj)
		default:
			controlPlane = append(controlPlane, obj)
		}
	}
	var errs []error
	deleted := 0
	remove := func(list []*unstructured.Unstructured) {
		for _, obj := range list {
			if err := c.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
				errs = append(errs, fmt.Errorf("deleting %s %s: %w", obj.GetKind(), obj.GetName(), err))
			} else if err == nil {
				deleted++
			}
		}
	}
	remove(webhooks)
	remove(controlPlane)
	// weftd's leader election Lease.
	lease := &coordinationv1.Lease{}
	lease.Namespace, lease.Name = o.install.meshNamespace, "weftd-leader"
	if err := c.Delete(ctx, lease); client.IgnoreNotFound(err) != nil {
		errs = append(errs, fmt.Errorf("deleting Lease %s/%s: %w", lease.Namespace, lease.Name, err))
	}
	// The Secrets weftd wrote, wherever they are.
	errs = append(errs, deleteManagedSecrets(ctx, c))
	if o.deleteClusterWide {
		remove(crds)
	}
	if o.deleteNamespace {
		ns := &corev1.Namespace{}
		ns.Name = o.install.meshNamespace
		if err := c.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting namespace %s: %w", ns.Name, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(out, "Mesh [%s] in namespace [%s] uninstalled (%d objects deleted).\n", o.install.meshName, o.install.meshNamespace, deleted)
	return nil
}

// deleteManagedSecrets deletes the Secrets weftd labelled as its own (bootstrap
// Secrets, the ingress controller's certificate), in every namespace, but the
// mesh's root: a reinstall reuses it, and --delete-namespace removes it.
func deleteManagedSecrets(ctx context.Context, c client.Client) error {
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets, client.MatchingLabels{injector.LabelManagedBy: "weft"}); err != nil {
		return fmt.Errorf("listing weft's Secrets: %w", err)
	}
	var errs []error
	for i := range secrets.Items {
		if secrets.Items[i].Labels["app.kubernetes.io/component"] == "ca-root" {
			continue
		}
		if err := c.Delete(ctx, &secrets.Items[i]); client.IgnoreNotFound(err) != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}
