package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/spf13/cobra"

	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/pkg/k8s"
)

// The namespace label and annotation that put a namespace in a mesh, as OSM's.
const (
	monitoredByLabel    = k8s.MonitoredByLabel
	injectionAnnotation = injector.AnnotationSidecarInjection
)

func newNamespaceCommand() *cobra.Command {
	return parent(&cobra.Command{
		Use:     "namespace",
		Aliases: []string{"ns"},
		Short:   "Add namespaces to the mesh, remove them, list them",
		Example: `  weft namespace add bookstore bookbuyer
  weft namespace list`,
	}, newNamespaceAddCommand(), newNamespaceRemoveCommand(), newNamespaceListCommand())
}

func newNamespaceAddCommand() *cobra.Command {
	var k kubeFlags
	var disableInjection bool
	cmd := &cobra.Command{
		Use:   "add <namespace>...",
		Short: "Add namespaces to the mesh: label them monitored-by the mesh and enable sidecar injection",
		Example: `  # Add two namespaces to the mesh osm
  weft namespace add bookstore bookbuyer

  # Add a namespace to the mesh blue, without injecting sidecars into its pods
  weft namespace add legacy --mesh-name blue --disable-sidecar-injection`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			injection := "enabled"
			if disableInjection {
				injection = "disabled"
			}
			for _, name := range args {
				if err := addNamespace(cmd.Context(), c, name, k.meshName, injection); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Namespace [%s] successfully added to mesh [%s]\n", name, k.meshName)
			}
			return nil
		},
	}
	k.add(cmd)
	cmd.Flags().BoolVar(&disableInjection, "disable-sidecar-injection", false, "monitor the namespace without injecting sidecars into its new pods")
	return cmd
}

func addNamespace(ctx context.Context, c kubernetes.Interface, name, mesh, injection string) error {
	ns, err := c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	if other := ns.Labels[monitoredByLabel]; other != "" && other != mesh {
		return fmt.Errorf("namespace %s already belongs to mesh %q; remove it from that mesh first", name, other)
	}
	return patchNamespace(ctx, c, name, map[string]any{
		"labels":      map[string]any{monitoredByLabel: mesh},
		"annotations": map[string]any{injectionAnnotation: injection},
	})
}

func newNamespaceRemoveCommand() *cobra.Command {
	var k kubeFlags
	cmd := &cobra.Command{
		Use:   "remove <namespace>...",
		Short: "Remove namespaces from the mesh (existing pods keep their sidecars until restarted)",
		Example: `  weft namespace remove bookstore
  weft namespace remove legacy --mesh-name blue`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			for _, name := range args {
				ns, err := c.CoreV1().Namespaces().Get(cmd.Context(), name, metav1.GetOptions{})
				if err != nil {
					return fmt.Errorf("namespace %s: %w", name, err)
				}
				if got := ns.Labels[monitoredByLabel]; got != k.meshName {
					return fmt.Errorf("namespace %s is not in mesh %q", name, k.meshName)
				}
				// A null in a merge patch removes the key.
				if err := patchNamespace(cmd.Context(), c, name, map[string]any{
					"labels":      map[string]any{monitoredByLabel: nil},
					"annotations": map[string]any{injectionAnnotation: nil},
				}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Namespace [%s] successfully removed from mesh [%s]\n", name, k.meshName)
			}
			return nil
		},
	}
	k.add(cmd)
	return cmd
}

func newNamespaceListCommand() *cobra.Command {
	var k kubeFlags
	var o outputFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the mesh's namespaces and whether sidecars are injected in them",
		Example: `  weft namespace list
  weft namespace list --mesh-name blue -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			list, err := c.CoreV1().Namespaces().List(cmd.Context(), metav1.ListOptions{LabelSelector: monitoredByLabel + "=" + k.meshName})
			if err != nil {
				return err
			}
			if len(list.Items) == 0 && o.isTable() {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "No namespaces in the mesh")
				return err
			}
			sort.Slice(list.Items, func(i, j int) bool { return list.Items[i].Name < list.Items[j].Name })
			return o.printList(cmd.OutOrStdout(), namespaceTable(list.Items), list)
		},
	}
	k.add(cmd)
	o.add(cmd)
	return cmd
}

// namespaceTable is namespace list's table; -o wide adds the columns of
// priority 1.
func namespaceTable(items []corev1.Namespace) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "Namespace", Type: "string"},
		{Name: "Mesh", Type: "string"},
		{Name: "Sidecar-Injection", Type: "string"},
		{Name: "Metrics", Type: "string", Priority: 1},
		{Name: "Status", Type: "string", Priority: 1},
	}}
	for _, ns := range items {
		injection := ns.Annotations[injectionAnnotation]
		if injection == "" {
			injection = ns.Labels[injectionAnnotation]
		}
		if injection == "" {
			injection = "disabled"
		}
		metrics := ns.Annotations[injector.AnnotationMetrics]
		if metrics == "" {
			metrics = "disabled"
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: []any{ns.Name, ns.Labels[monitoredByLabel], injection, metrics, string(ns.Status.Phase)}})
	}
	return t
}

func patchNamespace(ctx context.Context, c kubernetes.Interface, name string, metadata map[string]any) error {
	patch, err := json.Marshal(map[string]any{"metadata": metadata})
	if err != nil {
		return err
	}
	if _, err := c.CoreV1().Namespaces().Patch(ctx, name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("namespace %s: %w", name, err)
	}
	return nil
}
