package controlplane

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/catalog"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
	"github.com/weft-mesh/weft/pkg/xds"
)

// recordingPusher is a push target that keeps what each push carried: the
// model then current, and whether it selected bookbuyer's proxies.
type recordingPusher struct {
	model  *xds.Mesh
	pushes chan push
}

type push struct {
	model        *catalog.Model
	selectsBuyer bool
}

var bookbuyer = ca.Proxy{ID: "p1", Kind: ca.ProxySidecar, Identity: identity.Identity{Namespace: "bookbuyer", ServiceAccount: "bookbuyer"}}

func (r *recordingPusher) Push(_ context.Context, affected func(ca.Proxy) bool) xds.PushResult {
	r.pushes <- push{model: r.model.Model(), selectsBuyer: affected(bookbuyer)}
	return xds.PushResult{}
}

// TestLoopFollowsTheFiles runs the loop on a copy of the bookstore example and
// the MeshConfig, read by the files source as weftd --files reads them, with a
// real CA and a recording push target.
func TestLoopFollowsTheFiles(t *testing.T) {
	dir := t.TempDir()
	copyFiles(t, dir, filepath.Join("..", "..", "examples", "bookstore"), filepath.Join("..", "..", "examples", "meshconfig.yaml"))
	roots, err := internalca.NewRoot("test root", time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	manager, err := ca.NewManager(ca.Options{Signer: internalca.New(roots, nil), TrustDomain: identity.DefaultTrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	model := xds.NewMesh(manager)
	pusher := &recordingPusher{model: model, pushes: make(chan push, 10)}
	loop := &Loop{Mesh: mesh.Defaults(), Certificates: manager, Model: model, Server: pusher, Logger: slog.New(slog.DiscardHandler)}
	source := &k8s.FilesSource{Paths: []string{dir}, Options: k8s.DefaultOptions(), QuietWindow: 20 * time.Millisecond}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); _ = loop.Run(ctx, source) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	first := next(t, pusher.pushes)
	t.Run("the first state is pushed with bookstore's split and its MeshConfig applied", func(t *testing.T) {
		if got := splitOf(first.model); got != "bookstore-v1=500 bookstore-v2=500" {
			t.Errorf("split %q", got)
		}
		if loop.MeshConfig() == nil || loop.MeshConfig().Name != "osm-mesh-config" {
			t.Errorf("MeshConfig %v", loop.MeshConfig())
		}
		if got := manager.Settings().ServiceValidity; got != 24*time.Hour {
			t.Errorf("service validity %s, want the MeshConfig's 24h", got)
		}
	})
	t.Run("a TrafficSplit edit reaches the push target and selects bookbuyer", func(t *testing.T) {
		edit(t, filepath.Join(dir, "split.yaml"), "weight: 500m\n    - service: bookstore-v2\n      weight: 500m", "weight: 0\n    - service: bookstore-v2\n      weight: 1")
		p := next(t, pusher.pushes)
		if got := splitOf(p.model); got != "bookstore-v1=0 bookstore-v2=1000" {
			t.Errorf("split %q", got)
		}
		if !p.selectsBuyer {
			t.Error("the push does not select bookbuyer's proxies")
		}
	})
	t.Run("a MeshConfig edit only the injector reads selects no proxy", func(t *testing.T) {
		for _, e := range [][2]string{{"logLevel: error", "logLevel: debug"}, {"envoy:distroless-v1.36.2", "envoy:distroless-v1.36.3"}} {
			edit(t, filepath.Join(dir, "meshconfig.yaml"), e[0], e[1])
			if p := next(t, pusher.pushes); p.selectsBuyer {
				t.Errorf("editing %q to %q selects bookbuyer's proxies", e[0], e[1])
			}
		}
	})
	t.Run("a MeshConfig edit the generator reads selects bookbuyer", func(t *testing.T) {
		edit(t, filepath.Join(dir, "meshconfig.yaml"), "tlsMinProtocolVersion: TLSv1_2", "tlsMinProtocolVersion: TLSv1_3")
		if p := next(t, pusher.pushes); !p.selectsBuyer {
			t.Error("the push does not select bookbuyer's proxies")
		}
	})
	t.Run("a MeshConfig edit reaches the CA's settings", func(t *testing.T) {
		edit(t, filepath.Join(dir, "meshconfig.yaml"), "serviceCertValidityDuration: 24h", "serviceCertValidityDuration: 2h")
		next(t, pusher.pushes)
		if got := manager.Settings().ServiceValidity; got != 2*time.Hour {
			t.Errorf("service validity %s, want 2h", got)
		}
	})
}

func next(t *testing.T, pushes <-chan push) push {
	t.Helper()
	select {
	case p := <-pushes:
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no push")
		return push{}
	}
}

func splitOf(m *catalog.Model) string {
	for _, s := range m.Services {
		if s.Split != nil {
			var out []string
			for _, b := range s.Split.Backends {
				out = append(out, fmt.Sprintf("%s=%d", b.Service.Name, b.Weight))
			}
			return strings.Join(out, " ")
		}
	}
	return ""
}

// copyFiles copies files and the files of folders (not recursively) into dir.
func copyFiles(t *testing.T, dir string, paths ...string) {
	t.Helper()
	for _, p := range paths {
		files := []string{p}
		if entries, err := os.ReadDir(p); err == nil {
			files = nil
			for _, e := range entries {
				files = append(files, filepath.Join(p, e.Name()))
			}
		}
		for _, f := range files {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, filepath.Base(f)), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func edit(t *testing.T, path, old, new string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), old) {
		t.Fatalf("%s does not hold %q", path, old)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(string(data), old, new, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
}

// MeshConfig observability.osmLogLevel moves weftd's log level, and without
// it (or without a MeshConfig) the level is the flag's again.
func TestLoopFollowsTheLogLevel(t *testing.T) {
	level := new(slog.LevelVar)
	loop := &Loop{Mesh: mesh.Defaults(), Logger: slog.New(slog.DiscardHandler), LogLevel: level, DefaultLogLevel: slog.LevelInfo}
	mc := func(v string) *k8s.State {
		s := &k8s.State{MeshConfig: &configv1alpha2.MeshConfig{}}
		s.MeshConfig.Spec.Observability.OSMLogLevel = v
		return s
	}
	for _, tt := range []struct {
		state *k8s.State
		want  slog.Level
	}{
		{mc("debug"), slog.LevelDebug},
		{mc("trace"), slog.LevelDebug},
		{mc("error"), slog.LevelError},
		{mc(""), slog.LevelInfo},
		{mc("warn"), slog.LevelWarn},
		{&k8s.State{}, slog.LevelInfo},
	} {
		loop.apply(context.Background(), tt.state)
		if got := level.Level(); got != tt.want {
			t.Errorf("osmLogLevel %q: level %v, want %v", osmLogLevel(tt.state), got, tt.want)
		}
	}
}

func osmLogLevel(s *k8s.State) string {
	if s.MeshConfig == nil {
		return "(no MeshConfig)"
	}
	return s.MeshConfig.Spec.Observability.OSMLogLevel
}
