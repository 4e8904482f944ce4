// Command demo runs the bookstore story on this machine with no cluster
// (`make demo`): it builds weftd and the book app, runs weftd on the YAML of
// demo/mesh, starts bookstore v1 and v2, bookbuyer and bookthief as
// proxyless gRPC workloads on loopback addresses, and applies the policies of
// demo/policies one at a time, printing what the clients saw and how long
// each change took. It exits non-zero when a step misbehaves; the logs stay
// in the folder it prints.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"

	"github.com/weft-mesh/weft/internal/meshrun"
	"github.com/weft-mesh/weft/internal/repo"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "demo failed:", err)
		os.Exit(1)
	}
}

func run() error {
	start := time.Now()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	root, err := repo.Root()
	if err != nil {
		return err
	}
	work, err := os.MkdirTemp("", "weft-demo-")
	if err != nil {
		return err
	}
	fmt.Printf("Weft demo: the bookstore story with real gRPC traffic, no cluster (logs, files and state in %s)\n\n", work)

	step("building weftd and the book app")
	bins, err := meshrun.Build(ctx, root, work)
	if err != nil {
		return err
	}
	done("built in %v", since(start))

	step("starting weftd on demo/mesh and bookstore v1 and v2 (proxyless gRPC servers on 127.0.1.1 and 127.0.1.2)")
	t := time.Now()
	story, err := meshrun.StartBookstore(ctx, bins, root, work)
	if err != nil {
		return err
	}
	defer story.Mesh.Stop()
	done("both versions serving %v after weftd started; weftd wrote each pod's bootstrap and certificates under %s/state/pods", since(t), work)

	for _, s := range story.Steps() {
		step(s.Name)
		said, err := s.Run(ctx)
		if err != nil {
			return fmt.Errorf("%s: %w", s.Name, err)
		}
		done("%s", said)
	}
	fmt.Printf("\nEvery step behaved; the demo took %v.\n", since(start))
	return nil
}

func step(what string) { fmt.Printf("==> %s\n", what) }

func done(format string, args ...any) { fmt.Printf("    "+format+"\n", args...) }

func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
