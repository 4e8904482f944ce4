// Command weftd is Weft's control plane: it watches the cluster, runs the CA,
// serves xDS to the proxies and serves the admission webhooks. Each part can be
// switched off by flag.
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
		Use:           "weftd",
		Short:         "Weft's control plane: catalog, CA, xDS server and admission webhooks",
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: o.logLevel()}))
			return run(cmd.Context(), logger, o)
		},
	}
	o.addFlags(cmd)
	cmd.AddCommand(newVersionCommand())
	return cmd
}
