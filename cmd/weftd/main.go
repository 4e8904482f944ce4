// Command weftd is Weft's control plane: it watches the cluster, runs the CA,
// serves xDS to the proxies and serves the admission webhooks. Each part can be
// switched off by flag. With --files it runs without a cluster, on YAML files.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := newRootCommand().ExecuteContext(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "weftd:", err)
		os.Exit(1)
	}
}

func newRootCommand() *cobra.Command {
	var o options
	cmd := &cobra.Command{
		Use:   "weftd",
		Short: "Weft's control plane: catalog, CA, xDS server and admission webhooks",
		Long: `Weft's control plane: catalog, CA, xDS server and admission webhooks.

In a cluster, weftd watches the API server and keeps the mesh root in a Secret.
With --files PATH (repeatable) it runs without a cluster: it reads the YAML files
and folders, follows their edits, keeps the mesh root under --state-dir, and
serves ADS, /debug and /metrics as in a cluster; the admission webhooks, the
sidecar injector and policy statuses are off, since they need an API server:

  weftd --files examples/bookstore --state-dir ./weftd-state`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			// MeshConfig observability.osmLogLevel moves the level (the loop
			// sets it); -v is where it starts and what it returns to.
			o.changed = cmd.Flags().Changed
			o.level = new(slog.LevelVar)
			o.level.Set(o.logLevel())
			logger, err := newLogger(os.Stderr, o.logFormat, o.level)
			if err != nil {
				return err
			}
			applyMemoryLimit(logger)
			return run(cmd.Context(), logger, o)
		},
	}
	o.addFlags(cmd)
	cmd.AddCommand(newVersionCommand())
	return cmd
}
