package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"

	"github.com/weft-mesh/weft/pkg/controlplane"
	"github.com/weft-mesh/weft/pkg/gateway"
	"github.com/weft-mesh/weft/pkg/k8s"
)

// leaseName is the Lease in the mesh namespace that the leader holds.
const leaseName = "weftd-leader"

// gate runs the leader-only parts (the writers) while this replica leads.
// Every replica serves ADS and the webhooks. A replica that loses the Lease
// exits (run returns an error), so a restart brings it back as a follower.
type gate struct {
	started chan struct{} // closed when leading starts
	ctx     context.Context
}

// alwaysLeading is the gate without leader election: one replica.
func alwaysLeading(ctx context.Context) *gate {
	g := &gate{started: make(chan struct{}), ctx: ctx}
	close(g.started)
	return g
}

// Leading says whether this replica holds the Lease now.
func (g *gate) Leading() bool {
	select {
	case <-g.started:
		return g.ctx.Err() == nil
	default:
		return false
	}
}

// Run waits until this replica leads, then runs f with a context that ends
// with the leadership. It returns nil if ctx ends first, and f's error unless
// the leadership (or ctx) had ended.
func (g *gate) Run(ctx context.Context, f func(context.Context) error) error {
	select {
	case <-ctx.Done():
		return nil
	case <-g.started:
	}
	if err := f(g.ctx); g.ctx.Err() == nil {
		return err
	}
	return nil
}

// startLeaderElection joins the election for the mesh namespace's Lease in
// the errgroup and returns the gate it opens.
func startLeaderElection(ctx context.Context, eg *errgroup.Group, logger *slog.Logger, o options, cfg *rest.Config) (*gate, error) {
	if !o.leaderElect {
		return alwaysLeading(ctx), nil
	}
	id := o.leaderID
	if id == "" {
		var err error
		if id, err = leaderIdentity(); err != nil {
			return nil, err
		}
	}
	lock, err := resourcelock.NewFromKubeconfig(resourcelock.LeasesResourceLock, o.mesh.Namespace, leaseName,
		resourcelock.ResourceLockConfig{Identity: id}, cfg, o.leaseRenewDeadline)
	if err != nil {
		return nil, fmt.Errorf("leader election: %w", err)
	}
	g := &gate{started: make(chan struct{})}
	var once sync.Once
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, Name: leaseName, ReleaseOnCancel: true,
		LeaseDuration: o.leaseDuration, RenewDeadline: o.leaseRenewDeadline, RetryPeriod: o.leaseRetryPeriod,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(leading context.Context) {
				once.Do(func() {
					logger.Info("leading: writing the mesh's Secrets, statuses and webhook caBundles", "identity", id, "lease", o.mesh.Namespace+"/"+leaseName)
					g.ctx = leading
					close(g.started)
				})
			},
			OnStoppedLeading: func() {},
		},
	})
	if err != nil {
		return nil, fmt.Errorf("leader election: %w", err)
	}
	logger.Info("joining the leader election", "identity", id, "lease", o.mesh.Namespace+"/"+leaseName)
	eg.Go(func() error {
		elector.Run(ctx)
		if ctx.Err() != nil {
			return nil
		}
		return errors.New("lost the leader Lease " + o.mesh.Namespace + "/" + leaseName + ": exiting, to restart as a follower")
	})
	return g, nil
}

// leaderIdentity is the pod's name (HOSTNAME) and a random suffix.
func leaderIdentity() (string, error) {
	host := os.Getenv("HOSTNAME")
	if host == "" {
		var err error
		if host, err = os.Hostname(); err != nil {
			return "", fmt.Errorf("leader election identity: %w", err)
		}
	}
	suffix := make([]byte, 4)
	if _, err := rand.Read(suffix); err != nil {
		return "", err
	}
	return host + "_" + hex.EncodeToString(suffix), nil
}

// leaderStatuses writes policy statuses on the leader only. What a follower
// was handed last is written when it starts leading (flush), not at the next
// change.
type leaderStatuses struct {
	w    controlplane.StatusWriter
	gate *gate

	mu      sync.Mutex
	pending func(context.Context) error
}

func (l *leaderStatuses) Write(ctx context.Context, s *k8s.State, problems func(kind, namespace, name string) []string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.gate.Leading() {
		l.pending = func(ctx context.Context) error { return l.w.Write(ctx, s, problems) }
		return nil
	}
	l.pending = nil
	return l.w.Write(ctx, s, problems)
}

// statusWriters write in turn, each whatever the others' errors.
type statusWriters []controlplane.StatusWriter

func (ws statusWriters) Write(ctx context.Context, s *k8s.State, problems func(kind, namespace, name string) []string) error {
	var errs []error
	for _, w := range ws {
		errs = append(errs, w.Write(ctx, s, problems))
	}
	return errors.Join(errs...)
}

var _ controlplane.StatusWriter = (*gateway.Provisioner)(nil)

// flush writes what was handed while following.
func (l *leaderStatuses) flush(ctx context.Context, log *slog.Logger) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.pending == nil {
		return
	}
	if err := l.pending(ctx); err != nil {
		log.Error("writing policy statuses", "error", err)
	}
	l.pending = nil
}
