// Command weft-init is the init container of a meshed pod: it installs the
// traffic redirection rules (see injector/redirect) in the pod's network
// namespace and exits. It needs NET_ADMIN; the flags are written by the injector.
//
//	weft-init [--dry-run] [--outbound-port-exclusions=6379,...] [--inbound-port-exclusions=...]
//	          [--outbound-ip-range-exclusions=10.0.0.0/8,...] [--outbound-ip-range-inclusions=...]
//	          [--interface-exclusions=eth1,...]
//	weft-init version
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/weft-mesh/weft/injector/redirect"
	"github.com/weft-mesh/weft/pkg/version"
)

func main() {
	args := os.Args[1:]
	if len(args) == 1 && (args[0] == "version" || args[0] == "--version") {
		fmt.Println("weft-init", version.String())
		return
	}
	dryRun := false
	if len(args) > 0 && args[0] == "--dry-run" {
		dryRun, args = true, args[1:]
	}
	cfg, err := redirect.ParseArgs(args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "weft-init:", err)
		os.Exit(2)
	}
	rules := redirect.Rules(cfg)
	if dryRun {
		fmt.Print(rules)
		return
	}
	if err := redirect.Apply(context.Background(), rules); err != nil {
		fmt.Fprintln(os.Stderr, "weft-init:", err)
		os.Exit(1)
	}
	fmt.Print("weft-init: installed redirection rules:\n", rules)
}
