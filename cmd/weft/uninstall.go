package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca/ingressgateway"
	"github.com/weft-mesh/weft/pkg/mesh"
)

type uninstallOptions struct {
	kube              kubeFlags
	meshNamespace     string
	force             bool
	deleteClusterWide bool
	deleteNamespace   bool
}

func newUninstallCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "uninstall", Short: "Uninstall parts of the mesh", Example: "  weft uninstall mesh"}
	var o uninstallOptions
	meshCmd := &cobra.Command{
		Use:   "mesh",
		Short: "Remove a mesh's control plane and what it left in the cluster",
		Long: `uninstall mesh asks, for each mesh (the one named with --mesh-name, or every one),
whether to uninstall it; -f does not ask. It deletes the mesh's webhook configurations
first (so that no pod creation waits on a control plane that is going away), then its Helm
release (weftd's Deployment, Service and RBAC, the MeshConfig), its leader election Lease,
and the Secrets weftd wrote for it: per-proxy bootstrap Secrets in every namespace and the
ingress controller's client certificate. Another mesh's objects are never touched. Running
sidecars keep their last configuration until their pods are restarted.

With --delete-cluster-wide-resources (-a), as OSM, it also deletes the mesh's root CA Secret
and, once no mesh is left, the CRDs with every policy; with --delete-namespace, the mesh
namespace.`,
		Example: `  # Uninstall the mesh osm in osm-system, after confirming
  weft uninstall mesh

  # Uninstall without asking, with the root, the CRDs and the namespace
  weft uninstall mesh -f -a --delete-namespace`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !cmd.Flags().Changed("mesh-name") {
				o.kube.meshName = ""
			}
			return o.run(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout())
		},
	}
	f := meshCmd.Flags()
	o.kube.add(meshCmd)
	f.StringVar(&o.meshNamespace, "mesh-namespace", "", "the mesh's namespace; empty: wherever the mesh is")
	f.StringVar(&o.meshNamespace, "osm-namespace", "", "the mesh's namespace (OSM's flag name)")
	f.BoolVarP(&o.force, "force", "f", false, "uninstall without asking for confirmation")
	f.BoolVarP(&o.deleteClusterWide, "delete-cluster-wide-resources", "a", false, "also delete the mesh's root CA Secret and, once no mesh is left, the CRDs with every mesh policy")
	f.BoolVar(&o.deleteNamespace, "delete-namespace", false, "also delete the mesh namespace")
	return parent(cmd, meshCmd)
}

func (o *uninstallOptions) run(ctx context.Context, in io.Reader, out io.Writer) error {
	c, err := o.kube.objectClient()
	if err != nil {
		return err
	}
	meshes, err := listMeshes(ctx, c)
	if err != nil {
		return err
	}
	var candidates []installedMesh
	for _, m := range meshes {
		if !m.osm && (o.kube.meshName == "" || m.name == o.kube.meshName) && (o.meshNamespace == "" || m.namespace == o.meshNamespace) {
			candidates = append(candidates, m)
		}
	}
	if len(candidates) == 0 {
		// A release whose Deployment is gone (a failed install) is still
		// uninstalled by name.
		if o.kube.meshName == "" {
			fmt.Fprintln(out, "No Weft control planes found")
			return nil
		}
		ns := o.meshNamespace
		if ns == "" {
			ns = defaultMeshNamespace
		}
		candidates = append(candidates, installedMesh{name: o.kube.meshName, namespace: ns})
	}
	reader := bufio.NewReader(in)
	var errs []error
	removed := map[string]bool{}
	for _, m := range candidates {
		if !o.force {
			ok, err := confirm(reader, out, fmt.Sprintf("Uninstall Weft [mesh name: %s] in namespace [%s] and/or its resources?", m.name, m.namespace))
			if err != nil {
				return err
			}
			if !ok {
				continue
			}
		}
		if err := o.uninstall(ctx, c, m, out); err != nil {
			errs = append(errs, err)
			continue
		}
		removed[m.namespace+"/"+m.name] = true
	}
	if o.deleteClusterWide && len(removed) > 0 {
		var left []string
		for _, m := range meshes {
			if !removed[m.namespace+"/"+m.name] {
				left = append(left, m.String())
			}
		}
		if len(left) > 0 {
			fmt.Fprintf(out, "The CRDs are kept: %s still use them.\n", strings.Join(left, ", "))
		} else {
			errs = append(errs, deleteCRDs(ctx, c, out))
		}
	}
	return errors.Join(errs...)
}

// uninstall removes one mesh's objects, and only its.
func (o *uninstallOptions) uninstall(ctx context.Context, c client.Client, m installedMesh, out io.Writer) error {
	var errs []error
	del := func(obj client.Object, what string) {
		if err := c.Delete(ctx, obj); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting %s: %w", what, err))
		}
	}
	mutating := &admissionregistrationv1.MutatingWebhookConfiguration{}
	mutating.Name = mesh.MutatingWebhookName(m.name)
	validating := &admissionregistrationv1.ValidatingWebhookConfiguration{}
	validating.Name = mesh.ValidatingWebhookName(m.name)
	del(mutating, "MutatingWebhookConfiguration "+mutating.Name)
	del(validating, "ValidatingWebhookConfiguration "+validating.Name)

	cfg, err := helmConfiguration(&o.kube, m.namespace)
	if err != nil {
		return err
	}
	un := action.NewUninstall(cfg)
	un.IgnoreNotFound = true
	if _, err := un.Run(m.name); err != nil {
		errs = append(errs, fmt.Errorf("uninstalling release %s in namespace %s: %w", m.name, m.namespace, err))
	}
	lease := &coordinationv1.Lease{}
	lease.Namespace, lease.Name = m.namespace, "weftd-leader"
	del(lease, "Lease "+m.namespace+"/weftd-leader")

	// The Secrets weftd wrote for this mesh: bootstrap Secrets carry its
	// name, the ingress controller's certificate its namespace.
	for _, sel := range []client.MatchingLabels{
		{mesh.LabelMeshName: m.name},
		{ingressgateway.LabelMeshNamespace: m.namespace},
	} {
		errs = append(errs, deleteSecrets(ctx, c, sel))
	}
	if o.deleteClusterWide {
		errs = append(errs, deleteSecrets(ctx, c, client.MatchingLabels{"app.kubernetes.io/component": "ca-root"}, client.InNamespace(m.namespace)))
	}
	if o.deleteNamespace {
		ns := &corev1.Namespace{}
		ns.Name = m.namespace
		del(ns, "namespace "+m.namespace)
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintf(out, "Weft [mesh name: %s] in namespace [%s] uninstalled\n", m.name, m.namespace)
	if o.deleteNamespace {
		fmt.Fprintf(out, "Namespace [%s] deleted\n", m.namespace)
	}
	return nil
}

// deleteSecrets deletes weft's Secrets matching opts.
func deleteSecrets(ctx context.Context, c client.Client, opts ...client.ListOption) error {
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets, append(opts, client.MatchingLabels{"app.kubernetes.io/managed-by": "weft"})...); err != nil {
		return fmt.Errorf("listing weft's Secrets: %w", err)
	}
	var errs []error
	for i := range secrets.Items {
		if err := c.Delete(ctx, &secrets.Items[i]); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting Secret %s/%s: %w", secrets.Items[i].Namespace, secrets.Items[i].Name, err))
		}
	}
	return errors.Join(errs...)
}

// deleteCRDs deletes the chart's CRDs, and with them every policy and
// MeshConfig; Gateway API's only if weft install created them (sharedCRD).
func deleteCRDs(ctx context.Context, c client.Client, out io.Writer) error {
	crds, err := embeddedCRDs()
	if err != nil {
		return err
	}
	var errs []error
	for _, crd := range crds {
		if sharedCRD(crd) {
			var live apiextensionsv1.CustomResourceDefinition
			if err := c.Get(ctx, client.ObjectKey{Name: crd.GetName()}, &live); err != nil || live.Annotations[annotationInstalledBy] != "weft" {
				continue
			}
		}
		if err := c.Delete(ctx, crd); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting CRD %s: %w", crd.GetName(), err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	fmt.Fprintln(out, "CRDs deleted (Gateway API's only if weft install created them)")
	return nil
}

// confirm asks a yes/no question, three times at most, as OSM's CLI.
func confirm(in *bufio.Reader, out io.Writer, question string) (bool, error) {
	for range 3 {
		fmt.Fprintf(out, "%s [y/n]: ", question)
		answer, err := in.ReadString('\n')
		if err != nil && answer == "" {
			return false, fmt.Errorf("reading the answer: %w (use -f to uninstall without asking)", err)
		}
		switch strings.ToLower(strings.TrimSpace(answer)) {
		case "y", "yes":
			return true, nil
		case "n", "no":
			return false, nil
		}
		fmt.Fprintln(out, "Please answer y or n.")
	}
	return false, errors.New("no valid answer: nothing uninstalled")
}
