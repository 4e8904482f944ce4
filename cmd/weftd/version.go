package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/weft-mesh/weft/pkg/version"
)

func newVersionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print weftd's version",
		Args:  cobra.NoArgs,
		Run: func(cmd *cobra.Command, _ []string) {
			fmt.Fprintln(cmd.OutOrStdout(), "weftd", version.String())
		},
	}
}
