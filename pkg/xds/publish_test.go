package xds_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/xds"
)

// pushGate holds one configuration computation after it computed and before
// it returns, so a test can close streams while a Push is under way.
type pushGate struct {
	computed chan struct{} // closed when the held computation has computed
	release  chan struct{} // closed by the test to let it return
}

// gated returns an Options change that holds the next computation at gate,
// once a test stores one there.
func gated(gate *atomic.Pointer[pushGate]) func(*xds.Options) {
	return func(o *xds.Options) {
		config := o.Config
		o.Config = func(ctx context.Context, p ca.Proxy) (xds.Resources, error) {
			res, err := config(ctx, p)
			if g := gate.Swap(nil); g != nil {
				close(g.computed)
				<-g.release
			}
			return res, err
		}
	}
}

func wait[T any](t *testing.T, c <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-c:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

// closeStream ends the client's side of s and waits for the server to end
// the stream (it calls OnStreamClosed before it returns).
func closeStream(t *testing.T, s *adsStream) {
	t.Helper()
	_ = s.stream.CloseSend()
	for {
		if _, err := recvErr(s); err != nil {
			return
		}
	}
}

func TestAPushRacingADisconnect(t *testing.T) {
	for _, tc := range []struct {
		name      string
		reconnect bool
	}{
		{name: "a proxy that disconnects while a push computes its configuration leaves no snapshot in the cache"},
		{name: "a proxy that reconnects while a push computes its old stream's configuration keeps its new stream's snapshot", reconnect: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var gate atomic.Pointer[pushGate]
			m := newMesh(t, gated(&gate))
			p := m.connect("bookstore", "bookstore")
			s := p.sotw()
			p.request(s, resource.ClusterType, nil, nil, "")
			first := recv(t, s)
			p.request(s, resource.ClusterType, nil, first, "")

			// A push computes the proxy's next configuration and is held
			// there, before it publishes.
			g := &pushGate{computed: make(chan struct{}), release: make(chan struct{})}
			gate.Store(g)
			m.generation.Add(1)
			done := make(chan xds.PushResult, 1)
			go func() { done <- m.server.Push(context.Background(), func(ca.Proxy) bool { return true }) }()
			wait(t, g.computed, "the push to compute the configuration")

			closeStream(t, s)
			if n := len(m.server.ConnectedProxies()); n != 0 {
				t.Fatalf("%d proxies connected after the only stream closed, want 0", n)
			}
			if v, ok := m.server.CachedVersion(p.nodeID, resource.ClusterType); ok {
				t.Fatalf("the cache holds clusters version %s of the disconnected proxy before the push publishes", v)
			}
			want := ""
			if tc.reconnect {
				m.generation.Add(1)
				s2 := p.sotw()
				p.request(s2, resource.ClusterType, nil, nil, "")
				want = recv(t, s2).GetVersionInfo()
			}

			close(g.release)
			wait(t, done, "the push to end")
			v, ok := m.server.CachedVersion(p.nodeID, resource.ClusterType)
			switch {
			case !tc.reconnect && ok:
				t.Errorf("after the push the cache holds clusters version %s for %s, which disconnected: want no snapshot", v, p.nodeID)
			case tc.reconnect && !ok:
				t.Errorf("after the push the cache holds no snapshot for %s, which is connected", p.nodeID)
			case tc.reconnect && v != want:
				t.Errorf("after the push the cache holds clusters version %s for %s, want %s, what its new stream was sent", v, p.nodeID, want)
			}
		})
	}
}
