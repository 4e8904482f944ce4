package xds

import (
	"context"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/identity"
)

// FollowRenewals pushes renewed service certificates to the proxies of their
// identity, and a changed trust bundle to every proxy, until ctx ends.
func (s *Server) FollowRenewals(ctx context.Context, sub *ca.Subscription) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-sub.Ready():
			u := sub.Take()
			if u.BundleChanged {
				s.Push(ctx, func(ca.Proxy) bool { return true })
				continue
			}
			renewed := map[identity.Identity]bool{}
			for _, c := range u.Renewed {
				if c.Kind == ca.KindService {
					renewed[c.Identity] = true
				}
			}
			if len(renewed) > 0 {
				s.Push(ctx, func(p ca.Proxy) bool { return renewed[p.Identity] })
			}
		}
	}
}
