package main

import (
	"fmt"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func newMeshCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "mesh", Short: "Inspect the meshes installed in the cluster"}
	var k kubeFlags
	list := &cobra.Command{
		Use:   "list",
		Short: "List the installed control planes: mesh name, namespace, image and readiness",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := k.client()
			if err != nil {
				return err
			}
			deployments, err := c.AppsV1().Deployments(metav1.NamespaceAll).List(cmd.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=weftd"})
			if err != nil {
				return err
			}
			if len(deployments.Items) == 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "No mesh control planes found")
				return nil
			}
			w := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 3, ' ', 0)
			fmt.Fprintln(w, "MESH NAME\tNAMESPACE\tIMAGE\tREADY")
			for _, d := range deployments.Items {
				fmt.Fprintf(w, "%s\t%s\t%s\t%d/%d\n", meshNameOf(d), d.Namespace, imageOf(d), d.Status.ReadyReplicas, d.Status.Replicas)
			}
			return w.Flush()
		},
	}
	list.Flags().StringVar(&k.kubeconfig, "kubeconfig", "", "kubeconfig file; empty means $KUBECONFIG or ~/.kube/config")
	cmd.AddCommand(list)
	return cmd
}

// meshNameOf reads weftd's --mesh-name flag ("osm" when absent, its default).
func meshNameOf(d appsv1.Deployment) string {
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, arg := range c.Args {
			if name, ok := strings.CutPrefix(arg, "--mesh-name="); ok {
				return name
			}
		}
	}
	return "osm"
}

func imageOf(d appsv1.Deployment) string {
	if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
		return cs[0].Image
	}
	return ""
}
