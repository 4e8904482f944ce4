package main

import (
	"fmt"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weft-mesh/weft/injector"
)

func newMetricsCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "metrics",
		Short: "Let Prometheus scrape the sidecars of mesh namespaces, or stop it",
	}
	cmd.AddCommand(newMetricsToggleCommand("enable", "enabled"), newMetricsToggleCommand("disable", "disabled"))
	return cmd
}

// newMetricsToggleCommand sets the namespaces' openservicemesh.io/metrics
// annotation, which the injector reads when it injects a pod: pods created
// afterwards get (or lose) the Prometheus scrape annotations.
func newMetricsToggleCommand(verb, value string) *cobra.Command {
	var k kubeFlags
	var namespaces []string
	cmd := &cobra.Command{
		Use:   verb + " --namespace <namespace>[,<namespace>...]",
		Short: fmt.Sprintf("Set %s: %s on mesh namespaces (restart their pods to apply it)", injector.AnnotationMetrics, value),
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if len(namespaces) == 0 {
				return fmt.Errorf("name the namespaces with --namespace")
			}
			c, err := k.client()
			if err != nil {
				return err
			}
			for _, name := range namespaces {
				ns, err := c.CoreV1().Namespaces().Get(cmd.Context(), name, metav1.GetOptions{})
				if err != nil {
					return fmt.Errorf("namespace %s: %w", name, err)
				}
				if ns.Labels[monitoredByLabel] != k.meshName {
					return fmt.Errorf("namespace %s is not in mesh %q: add it with `weft namespace add %s`", name, k.meshName, name)
				}
				if err := patchNamespace(cmd.Context(), c, name, map[string]any{"annotations": map[string]any{injector.AnnotationMetrics: value}}); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Metrics %s for namespace [%s]; restart its pods to apply\n", value, name)
			}
			return nil
		},
	}
	k.add(cmd)
	cmd.Flags().StringSliceVar(&namespaces, "namespace", nil, "the namespaces (comma separated or repeated)")
	return cmd
}
