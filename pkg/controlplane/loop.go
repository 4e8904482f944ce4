// Package controlplane owns weftd's control-plane loop: for every State a
// source announces (pkg/k8s's ClusterSource or FilesSource), in this order,
//
//  1. the State's MeshConfig becomes current: the CA's certificate settings
//     (ApplyMeshConfig), the ADS server's cap on proxies
//     (sidecar.maxDataPlaneConnections), weftd's log level
//     (observability.osmLogLevel) and the injector (through
//     Loop.MeshConfig) read it;
//  2. in files mode, the MeshConfig goes to the ingress gateway's certificate
//     and the Pods to the proxyless pods' bootstrap folders;
//  3. catalog.Build makes the mesh model with the mesh configuration;
//  4. each problem the model reports (a skipped policy) is logged once, when it
//     first appears;
//  5. the ADS server pushes the new model to the proxies it affects;
//  6. the policies' statuses and events are written (cluster only).
//
// A part that is switched off is nil and its step is skipped. The loop starts
// nothing else: weftd (cmd/weftd) wires the CA, the ADS server and the
// webhooks, hands them to a Loop and calls Run.
//
// It holds no Kubernetes client: the cluster stays behind the Source and the
// StatusWriter it is handed, so the same loop runs on a folder of YAML. It
// must not import pkg/envoy (the ADS server generates) nor cmd/weftd.
package controlplane

import (
	"context"
	"log/slog"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/catalog"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
	"github.com/weft-mesh/weft/pkg/validation/rules"
	"github.com/weft-mesh/weft/pkg/xds"
)

// CertificateSettings is the part of the CA that reads the MeshConfig;
// *ca.Manager is one.
type CertificateSettings interface {
	ApplyMeshConfig(*configv1alpha2.MeshConfig) error
}

// Pusher sends a new model's configuration to the proxies that affected
// selects; *xds.Server is one.
type Pusher interface {
	Push(ctx context.Context, affected func(ca.Proxy) bool) xds.PushResult
}

// StatusWriter writes the policies' statuses from a State and the problems the
// model found for each object; *k8s.PolicyStatusWriter is one.
type StatusWriter interface {
	Write(ctx context.Context, s *k8s.State, problems func(kind, namespace, name string) []string) error
}

var (
	_ CertificateSettings = (*ca.Manager)(nil)
	_ Pusher              = (*xds.Server)(nil)
	_ StatusWriter        = (*k8s.PolicyStatusWriter)(nil)
	_ DataPlaneLimiter    = (*xds.Server)(nil)
)

// MeshConfigReceiver takes the MeshConfig of each State.
type MeshConfigReceiver interface {
	SetMeshConfig(*configv1alpha2.MeshConfig)
}

// DataPlaneLimiter caps the proxies the ADS server serves; *xds.Server is
// one.
type DataPlaneLimiter interface {
	SetMaxDataPlaneConnections(int)
}

// PodReceiver takes the Pods of each State; *proxyless.FileWriter is one.
type PodReceiver interface {
	SetPods([]*corev1.Pod)
}

// Loop joins the stages. Set its fields before Run; nil parts are off.
type Loop struct {
	// Mesh is the mesh configuration the catalog builds with. Required.
	Mesh mesh.Config
	// Certificates receives every State's MeshConfig (nil when there is none,
	// which restores the defaults); nil when the CA is off.
	Certificates CertificateSettings
	// Model holds the current model; Server pushes what it changed. Both nil
	// when the ADS server is off.
	Model  *xds.Mesh
	Server Pusher
	// Statuses writes policy statuses; nil when off (files mode).
	Statuses StatusWriter
	// IngressGateway receives every State's MeshConfig (nil when there is
	// none); in files mode it keeps the ingress gateway's certificate
	// (*ingressgateway.Feed). Nil when off: in a cluster the reconciler
	// watches the MeshConfig itself, so that it runs without the ADS server.
	IngressGateway MeshConfigReceiver
	// Workloads receives every State's Pods; in files mode it writes the
	// proxyless workloads' bootstrap folders (*proxyless.FileWriter). Nil
	// when off.
	Workloads PodReceiver
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// LogLevel, when set, follows MeshConfig observability.osmLogLevel;
	// without one (or with a value it cannot read) it is DefaultLogLevel.
	LogLevel        *slog.LevelVar
	DefaultLogLevel slog.Level

	meshConfig atomic.Pointer[configv1alpha2.MeshConfig]
	reported   map[string]bool // problems already logged, so each is logged once
	applied    atomic.Bool
}

// Applied reports whether a State has gone through every stage: the source
// had synced its informers (or read its files) and the first model was
// pushed. weftd's /readyz waits for it.
func (l *Loop) Applied() bool { return l.applied.Load() }

// MeshConfig returns the last State's MeshConfig, or nil (none yet, or none in
// the State). It is safe to call from any goroutine: the injector reads it.
func (l *Loop) MeshConfig() *configv1alpha2.MeshConfig { return l.meshConfig.Load() }

// Run runs source and takes each State it announces through the stages, one
// State at a time, until ctx ends. It returns the source's error: ctx's error
// when ctx ends.
func (l *Loop) Run(ctx context.Context, source k8s.Source) error {
	return source.Run(ctx, func(s *k8s.State) { l.apply(ctx, s) })
}

func (l *Loop) log() *slog.Logger {
	if l.Logger == nil {
		return slog.Default()
	}
	return l.Logger
}

// apply takes one State through the stages.
func (l *Loop) apply(ctx context.Context, s *k8s.State) {
	log := l.log()
	l.meshConfig.Store(s.MeshConfig)
	if l.Certificates != nil {
		if err := l.Certificates.ApplyMeshConfig(s.MeshConfig); err != nil {
			log.Error("MeshConfig certificate settings not applied", "error", err)
		}
	}
	if l.LogLevel != nil {
		level := l.DefaultLogLevel
		if s.MeshConfig != nil {
			if v, ok := rules.ControlPlaneLogLevel(s.MeshConfig.Spec.Observability.OSMLogLevel); ok {
				level = v
			}
		}
		if level != l.LogLevel.Level() {
			l.LogLevel.Set(level)
			log.Info("log level set from MeshConfig observability.osmLogLevel", "level", level)
		}
	}
	if limiter, ok := l.Server.(DataPlaneLimiter); ok {
		n := 0
		if s.MeshConfig != nil {
			n = s.MeshConfig.Spec.Sidecar.MaxDataPlaneConnections
		}
		limiter.SetMaxDataPlaneConnections(n)
	}
	if l.IngressGateway != nil {
		l.IngressGateway.SetMeshConfig(s.MeshConfig)
	}
	if l.Workloads != nil {
		l.Workloads.SetPods(s.Pods)
	}
	model := catalog.Build(s, l.Mesh)
	l.reportNewProblems(model)
	if l.Model != nil && l.Server != nil {
		result := l.Server.Push(ctx, l.Model.SetModel(model))
		log.Info("mesh model updated", "services", len(model.Services), "identities", len(model.Identities),
			"recomputed", result.Recomputed, "updated", result.Updated, "failed", result.Failed)
	}
	l.applied.Store(true)
	if l.Statuses != nil {
		if err := l.Statuses.Write(ctx, s, problemsOf(model)); err != nil {
			log.Warn("writing policy statuses", "error", err)
		}
	}
}

// reportNewProblems logs the model's problems that the previous model did not
// have.
func (l *Loop) reportNewProblems(model *catalog.Model) {
	current := map[string]bool{}
	for _, p := range model.Problems {
		current[p.String()] = true
		if !l.reported[p.String()] {
			l.log().Warn("policy skipped", "problem", p.String())
		}
	}
	l.reported = current
}

// problemsOf reads a model's skipped input for the policy status writer.
func problemsOf(model *catalog.Model) func(kind, namespace, name string) []string {
	return func(kind, namespace, name string) []string {
		var out []string
		for _, p := range model.ProblemsFor(catalog.ObjectRef{Kind: kind, Namespace: namespace, Name: name}) {
			out = append(out, p.Detail())
		}
		return out
	}
}
