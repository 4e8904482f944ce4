// Command weft-init is the init container of a meshed pod: it installs the
// traffic redirection rules (see injector/redirect) in the pod's network
// namespace and exits. It needs NET_ADMIN; the flags are written by the injector.
// It installs the rules in nftables over netlink, so its image needs no other
// binary; --backend=iptables (after --dry-run, before the rest) runs
// iptables-restore instead, which must then be on PATH.
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
	"strings"

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
	backend := "nftables"
	if len(args) > 0 && strings.HasPrefix(args[0], "--backend=") {
		backend, args = strings.TrimPrefix(args[0], "--backend="), args[1:]
	}
	cfg, err := redirect.ParseArgs(args)
	if err != nil {
		fail(2, err)
	}
	var rules string
	var apply func() error
	switch backend {
	case "nftables":
		rules = redirect.NftablesRules(cfg)
		apply = func() error { return redirect.ApplyNftables(cfg) }
	case "iptables":
		rules = redirect.Rules(cfg)
		apply = func() error { return redirect.Apply(context.Background(), rules) }
	default:
		fail(2, fmt.Errorf("--backend=%s: want nftables or iptables", backend))
	}
	if dryRun {
		fmt.Print(rules)
		return
	}
	if err := apply(); err != nil {
		fail(1, err)
	}
	fmt.Printf("weft-init: installed redirection rules (%s):\n%s", backend, rules)
}

func fail(code int, err error) {
	fmt.Fprintln(os.Stderr, "weft-init:", err)
	os.Exit(code)
}
