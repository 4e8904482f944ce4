package internalca

import (
	"context"
	"errors"
	"log/slog"
	"time"

	"k8s.io/utils/clock"
)

// errUnchanged is what a follow read returns when the store holds what it
// read last time.
var errUnchanged = errors.New("the roots are unchanged")

// follow re-reads a store every interval until ctx ends and hands changed,
// valid roots to a.SetRoots: how a rotation done by editing the store (see
// docs/root-rotation.md) reaches a running CA. read returns the store's roots,
// or errUnchanged; when it reports the store missing (missing(err)), restore
// writes the running roots back, since the next start would otherwise have no
// root the mesh's proxies trust; any other error is logged (read reports
// each content once) and the last good roots keep signing.
func follow(ctx context.Context, a *Authority, clk clock.Clock, interval time.Duration, log *slog.Logger, store string,
	read func(context.Context) (*RootSet, error), missing func(error) bool, restore func(context.Context, *RootSet)) {
	if clk == nil {
		clk = clock.RealClock{}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-clk.After(interval):
		}
		set, err := read(ctx)
		switch {
		case errors.Is(err, errUnchanged):
		case err != nil && missing(err):
			restore(ctx, a.RootSet())
		case err != nil:
			if ctx.Err() == nil {
				log.Error("the root CA changed but is unusable, or could not be read; keeping the current roots", "store", store, "error", err)
			}
		case !sameRoots(set, a.RootSet()):
			log.Info("root CA changed", "store", store, "trustedRoots", len(set.Trusted), "signing", set.Signing.Cert.Subject.CommonName)
			a.SetRoots(set)
		}
	}
}
