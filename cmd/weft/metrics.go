package main

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/weft-mesh/weft/injector"
)

func newMetricsCommand() *cobra.Command {
	return parent(&cobra.Command{
		Use:     "metrics",
		Short:   "Let Prometheus scrape the sidecars of mesh namespaces, or stop it",
		Example: "  weft metrics enable --namespace bookstore,bookbuyer",
	}, newMetricsToggleCommand("enable", "enabled"), newMetricsToggleCommand("disable", "disabled"))
}

// newMetricsToggleCommand sets the namespaces' openservicemesh.io/metrics
// annotation, which the injector reads when it injects a pod, and, as
// `osm metrics` did, sets (or removes) the Prometheus scrape annotations of
// the namespaces' injected pods: weftd gives their sidecars the Prometheus
// listener (or takes it away) at once, without a restart.
func newMetricsToggleCommand(verb, value string) *cobra.Command {
	var k kubeFlags
	var namespaces []string
	cmd := &cobra.Command{
		Use:   verb + " --namespace <namespace>[,<namespace>...]",
		Short: fmt.Sprintf("Set %s: %s on mesh namespaces, and %s Prometheus scraping of their meshed pods", injector.AnnotationMetrics, value, verb),
		Example: fmt.Sprintf(`  weft metrics %[1]s --namespace bookstore,bookbuyer
  weft metrics %[1]s --namespace bookstore --namespace bookbuyer --mesh-name blue`, verb),
		Args: cobra.NoArgs,
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
				pods, err := patchMeshedPods(cmd.Context(), c, name, scrapeAnnotations(value == "enabled"))
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "Metrics %s for namespace [%s] and its %d meshed pods\n", value, name, pods)
			}
			return nil
		},
	}
	k.add(cmd)
	cmd.Flags().StringSliceVar(&namespaces, "namespace", nil, "the namespaces (comma separated or repeated)")
	return cmd
}

// scrapeAnnotations are the injector's Prometheus annotations when metrics
// are on; off, they are removed (null in a merge patch).
func scrapeAnnotations(on bool) map[string]any {
	out := map[string]any{}
	for k, v := range injector.PrometheusAnnotations() {
		if on {
			out[k] = v
		} else {
			out[k] = nil
		}
	}
	return out
}

// patchMeshedPods merges annotations into every injected pod of the
// namespace (those carrying the proxy UUID label) and returns how many.
func patchMeshedPods(ctx context.Context, c kubernetes.Interface, namespace string, annotations map[string]any) (int, error) {
	pods, err := c.CoreV1().Pods(namespace).List(ctx, metav1.ListOptions{LabelSelector: injector.LabelProxyUUID})
	if err != nil {
		return 0, fmt.Errorf("listing the meshed pods of namespace %s: %w", namespace, err)
	}
	patch, err := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": annotations}})
	if err != nil {
		return 0, err
	}
	for _, pod := range pods.Items {
		if _, err := c.CoreV1().Pods(namespace).Patch(ctx, pod.Name, types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return 0, fmt.Errorf("pod %s/%s: %w", namespace, pod.Name, err)
		}
	}
	return len(pods.Items), nil
}
