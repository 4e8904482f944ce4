package main

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/pkg/version"
)

func newVersionCommand() *cobra.Command {
	var k kubeFlags
	var clientOnly bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the CLI's version and, when the cluster is reachable, each mesh's",
		Long: `version prints the CLI's version, then the version of each mesh in the cluster: its
chart (the label helm.sh/chart of weftd's Deployment) and weftd's image tag. A cluster that
cannot be reached is reported on stderr without failing; --client does not try.`,
		Example: `  weft version
  weft version --client
  weft version --context prod`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(cmd.OutOrStdout(), "weft", version.String())
			if clientOnly {
				return nil
			}
			lines, err := meshVersions(cmd, &k)
			if err != nil {
				// The CLI's version is the answer asked for; a laptop with
				// no cluster must still get it with exit 0.
				fmt.Fprintln(cmd.ErrOrStderr(), "weft: the meshes' versions are unknown:", err)
				return nil
			}
			_, err = fmt.Fprint(cmd.OutOrStdout(), lines)
			return err
		},
	}
	k.addCluster(cmd)
	cmd.Flags().BoolVar(&clientOnly, "client", false, "print the CLI's version only, without contacting the cluster")
	cmd.Flags().BoolVar(&clientOnly, "client-only", false, "the same as --client (OSM's flag name)")
	return cmd
}

// meshVersions is the table of the cluster's meshes and their versions.
func meshVersions(cmd *cobra.Command, k *kubeFlags) (string, error) {
	cfg, err := k.restConfig()
	if err != nil {
		return "", err
	}
	if !cmd.Flags().Changed("request-timeout") {
		// An unreachable cluster must not hold the CLI's version back long.
		cfg.Timeout = 5 * time.Second
	}
	c, err := client.New(cfg, client.Options{})
	if err != nil {
		return "", err
	}
	meshes, err := listMeshes(cmd.Context(), c)
	if err != nil {
		return "", err
	}
	if len(meshes) == 0 {
		return "No mesh control planes found\n", nil
	}
	var b strings.Builder
	w := tabwriter.NewWriter(&b, 0, 4, 3, ' ', 0)
	fmt.Fprintln(w, "MESH NAME\tNAMESPACE\tVERSION\tCHART")
	for _, m := range meshes {
		chart := m.deployment.Labels["helm.sh/chart"]
		if m.osm {
			chart = "OSM"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", m.name, m.namespace, tagOf(imageOf(m.deployment)), chart)
	}
	if err := w.Flush(); err != nil {
		return "", err
	}
	return b.String(), nil
}

// tagOf is an image reference's tag (or digest), the control plane's
// version; "unknown" when it has none.
func tagOf(image string) string {
	if _, digest, ok := strings.Cut(image, "@"); ok {
		return digest
	}
	if i := strings.LastIndex(image, ":"); i > strings.LastIndex(image, "/") {
		return image[i+1:]
	}
	return "unknown"
}
