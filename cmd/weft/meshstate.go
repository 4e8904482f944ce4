package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// meshSource is where `policy check` and `analyze` read the mesh: YAML files
// (-f, as weft render reads them), else the cluster through the same source
// weftd watches it with.
type meshSource struct {
	kube    kubeFlags
	paths   []string
	mesh    mesh.Config
	timeout time.Duration
}

func (s *meshSource) add(cmd *cobra.Command) {
	s.mesh = mesh.Defaults()
	s.kube.add(cmd)
	f := cmd.Flags()
	f.StringArrayVarP(&s.paths, "filename", "f", nil, "read the mesh from YAML files or folders (repeatable), as weft render does, instead of the cluster")
	f.StringVar(&s.mesh.Namespace, "mesh-namespace", s.mesh.Namespace, "the namespace holding the MeshConfig")
	f.StringVar(&s.mesh.Namespace, "osm-namespace", s.mesh.Namespace, "the namespace holding the MeshConfig (OSM's flag name)")
	f.DurationVar(&s.timeout, "timeout", 30*time.Second, "how long to wait for the cluster's objects")
}

// meshSnapshot is one reading of the mesh and the model built from it.
type meshSnapshot struct {
	cfg   mesh.Config
	state *k8s.State
	model *catalog.Model
	// kube is the cluster's client; nil when read from files.
	kube kubernetes.Interface
	// objects are every object of the files, pods outside the mesh among
	// them (the State keeps only the mesh's).
	objects []runtime.Object
}

func (s *meshSource) load(ctx context.Context) (*meshSnapshot, error) {
	cfg := s.mesh
	cfg.Name = s.kube.meshName
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	snap := &meshSnapshot{cfg: cfg}
	if len(s.paths) > 0 {
		objs, rejected, err := (&k8s.FilesSource{Paths: s.paths, Options: k8s.OptionsFrom(cfg)}).Objects()
		if err != nil {
			return nil, err
		}
		snap.objects = objs
		snap.state = k8s.NewState(objs, k8s.OptionsFrom(cfg), rejected)
	} else {
		rc, err := s.kube.restConfig()
		if err != nil {
			return nil, err
		}
		if snap.kube, err = kubernetes.NewForConfig(rc); err != nil {
			return nil, err
		}
		if snap.state, err = firstState(ctx, &k8s.ClusterSource{Config: rc, Options: k8s.OptionsFrom(cfg),
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))}, s.timeout); err != nil {
			return nil, err
		}
	}
	snap.model = catalog.Build(snap.state, cfg)
	return snap, nil
}

// firstState runs a source until it announces its first State.
func firstState(ctx context.Context, src k8s.Source, timeout time.Duration) (*k8s.State, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var state *k8s.State
	err := src.Run(ctx, func(s *k8s.State) {
		if state == nil {
			state = s
			cancel()
		}
	})
	if state != nil {
		return state, nil
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("reading the cluster's mesh objects took over %s (are Weft's CRDs installed?)", timeout)
	}
	return nil, fmt.Errorf("reading the cluster: %w", err)
}

// pod finds a pod of any namespace, or nil.
func (m *meshSnapshot) pod(ctx context.Context, ns, name string) (*corev1.Pod, error) {
	if m.kube != nil {
		p, err := m.kube.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("pod %s/%s: %w", ns, name, err)
		}
		return p, nil
	}
	for _, o := range m.objects {
		if p, ok := o.(*corev1.Pod); ok && p.Namespace == ns && p.Name == name {
			return p, nil
		}
	}
	return nil, fmt.Errorf("pod %s/%s is not in the files (%s)", ns, name, k8s.TemplatePodNames)
}

// monitored reports whether the namespace is in the mesh.
func (m *meshSnapshot) monitored(ns string) bool {
	for _, n := range m.state.Namespaces {
		if n.Name == ns {
			return true
		}
	}
	return false
}

// meshConfigName names the MeshConfig the settings come from.
func (m *meshSnapshot) meshConfigName() string {
	if mc := m.state.MeshConfig; mc != nil {
		return "MeshConfig " + mc.Namespace + "/" + mc.Name
	}
	return "no MeshConfig " + m.cfg.Namespace + "/" + m.cfg.MeshConfigName + ", so the defaults"
}
