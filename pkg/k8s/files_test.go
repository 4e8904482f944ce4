package k8s

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestFilesSourceOnTheExamples(t *testing.T) {
	s, err := (&FilesSource{Paths: []string{filepath.Join("..", "..", "examples")}, Options: DefaultOptions()}).Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name      string
		got, want int
	}{
		{"the six labelled namespaces are the mesh", len(s.Namespaces), 6},
		{"the mesh's services and ingress-nginx's controller service", len(s.Services), 10},
		{"the service accounts", len(s.ServiceAccounts), 7},
		{"one pod per deployment replica", len(s.Pods), 9},
		{"the traffic targets", len(s.TrafficTargets), 3},
		{"the GAMMA route and the Gateway's", len(s.HTTPRoutes), 2},
		{"the split with 500m weights", len(s.TrafficSplits), 1},
		{"the egress policies", len(s.Egresses), 3},
		{"nothing rejected", len(s.Rejected), 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Fatalf("got %d, want %d", tc.got, tc.want)
			}
		})
	}
	t.Run("the MeshConfig is osm-system's", func(t *testing.T) {
		if s.MeshConfig == nil || s.MeshConfig.Namespace != "osm-system" {
			t.Fatalf("MeshConfig: %v", s.MeshConfig)
		}
	})
	t.Run("500m reads as a quantity", func(t *testing.T) {
		if w := s.TrafficSplits[0].Spec.Backends[0].Weight; w.MilliValue() != 500 {
			t.Fatalf("weight %s", w.String())
		}
	})
}

func TestFilesSourceFollowsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {openservicemesh.io/monitored-by: osm}}\n")
	states := make(chan *State, 10)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	// A quiet window far longer than the writes of a burst take, and far
	// shorter than the wait for a second announcement below.
	source := &FilesSource{Paths: []string{dir}, Options: DefaultOptions(), QuietWindow: 200 * time.Millisecond, MaxDelay: 5 * time.Second}
	go func() { done <- source.Run(ctx, func(s *State) { states <- s }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; !errors.Is(err, context.Canceled) {
			t.Errorf("Run: %v", err)
		}
	})
	next := func(t *testing.T) *State {
		t.Helper()
		select {
		case s := <-states:
			return s
		case <-time.After(10 * time.Second):
			t.Fatal("no state announced")
			return nil
		}
	}
	if s := next(t); len(s.Namespaces) != 1 || len(s.Services) != 0 {
		t.Fatalf("first state: %+v", s)
	}
	t.Run("a burst of new files is announced once, a bad document rejected", func(t *testing.T) {
		write("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: a}\nspec: {ports: [{port: 80}]}\n")
		write("split.yaml", "apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata: {name: t, namespace: a}\nspec: {service: s, backends: [{service: s, weight: lots}]}\n")
		s := next(t)
		if len(s.Services) != 1 || len(s.Rejected) != 1 || s.Rejected[0].Kind != "TrafficSplit" {
			t.Fatalf("state: services %d, rejected %+v", len(s.Services), s.Rejected)
		}
		select {
		case s := <-states:
			t.Fatalf("a second state for one burst: services %d", len(s.Services))
		case <-time.After(500 * time.Millisecond):
		}
	})
	t.Run("a file in a folder made after the start is read", func(t *testing.T) {
		write("more/svc2.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s2, namespace: a}\nspec: {ports: [{port: 80}]}\n")
		for s := next(t); len(s.Services) != 2; s = next(t) {
		}
	})
	t.Run("a removed file is forgotten", func(t *testing.T) {
		if err := os.Remove(filepath.Join(dir, "svc.yaml")); err != nil {
			t.Fatal(err)
		}
		for s := next(t); len(s.Services) != 1; s = next(t) {
		}
	})
}

func TestFilesSourceRefusesAMissingPath(t *testing.T) {
	err := (&FilesSource{Paths: []string{filepath.Join(t.TempDir(), "nothing")}, Options: DefaultOptions()}).Run(context.Background(), func(*State) {})
	if err == nil || !strings.Contains(err.Error(), "nothing") {
		t.Fatalf("Run: %v, want an error naming the path", err)
	}
}
