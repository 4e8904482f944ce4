// Command weft is Weft's CLI: it installs the mesh, onboards namespaces and
// inspects proxies, with the verbs OSM's CLI users know.
package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/weft-mesh/weft/pkg/version"
)

func main() {
	if err := newRootCommand().Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "weft:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:           "weft",
		Short:         "Install and operate the Weft service mesh",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	cmd.AddCommand(newRenderCommand(), newNamespaceCommand(), newInstallCommand(), newUninstallCommand(),
		newMetricsCommand(), newMeshCommand(), newCheckCommand(), newPolicyCommand(), newAnalyzeCommand())
	cmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the CLI's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "weft", version.String())
		},
	})
	return cmd
}
