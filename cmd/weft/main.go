// Command weft is Weft's CLI: it installs the mesh, onboards namespaces and
// inspects proxies, with the verbs OSM's CLI users know.
package main

import (
	"fmt"
	"os"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"
)

// The controller-runtime clients and caches the CLI uses log nothing a user
// needs; without a logger, controller-runtime prints a stack trace instead.
func init() { ctrllog.SetLogger(logr.Discard()) }

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
		Example: `  weft install
  weft namespace add bookstore
  weft proxy get config_dump bookstore-5ccf77f46d-rc5mg -n bookstore`,
	}
	cmd.AddCommand(newRenderCommand(), newNamespaceCommand(), newInstallCommand(), newUninstallCommand(),
		newMetricsCommand(), newMeshCommand(), newCheckCommand(), newPolicyCommand(), newAnalyzeCommand(),
		newProxyCommand(), newVersionCommand())
	return cmd
}
