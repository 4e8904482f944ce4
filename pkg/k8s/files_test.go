package k8s

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
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
		{"the five labelled namespaces are the mesh", len(s.Namespaces), 5},
		{"the mesh's services and ingress-nginx's controller service", len(s.Services), 7},
		{"the service accounts", len(s.ServiceAccounts), 5},
		{"one pod per deployment replica", len(s.Pods), 6},
		{"the traffic targets", len(s.TrafficTargets), 2},
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

func TestFilesSourceRereadsChangedFiles(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("ns.yaml", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a, labels: {openservicemesh.io/monitored-by: osm}}\n")
	clk := clocktesting.NewFakeClock(time.Unix(1000, 0))
	states := make(chan *State, 10)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go (&FilesSource{Paths: []string{dir}, Options: DefaultOptions(), Clock: clk, PollInterval: time.Second}).Run(ctx, func(s *State) { states <- s })
	waitTimer := func() {
		for !clk.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
	}
	if s := <-states; len(s.Namespaces) != 1 || len(s.Services) != 0 {
		t.Fatalf("first state: %+v", s)
	}
	t.Run("an unchanged folder announces nothing", func(t *testing.T) {
		waitTimer()
		clk.Step(time.Second)
		waitTimer()
		if len(states) != 0 {
			t.Fatal("announced without a change")
		}
	})
	t.Run("a new file is read at the next poll, a bad document rejected", func(t *testing.T) {
		write("svc.yaml", "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: a}\nspec: {ports: [{port: 80}]}\n---\n"+
			"apiVersion: split.smi-spec.io/v1alpha2\nkind: TrafficSplit\nmetadata: {name: t, namespace: a}\nspec: {service: s, backends: [{service: s, weight: lots}]}\n")
		clk.Step(time.Second)
		s := <-states
		if len(s.Services) != 1 || len(s.Rejected) != 1 || s.Rejected[0].Kind != "TrafficSplit" {
			t.Fatalf("state: services %d, rejected %+v", len(s.Services), s.Rejected)
		}
	})
}
