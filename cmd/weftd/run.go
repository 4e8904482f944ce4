package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/ingressgateway"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/injector"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/controlplane"
	"github.com/weft-mesh/weft/pkg/gateway"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/validation"
	"github.com/weft-mesh/weft/pkg/version"
	"github.com/weft-mesh/weft/pkg/webhookmetrics"
	"github.com/weft-mesh/weft/pkg/xds"
)

// run starts every enabled part and returns when ctx ends or a part fails.
//
//  1. The CA loads (or creates) the mesh root from its Secret, or signs
//     through cert-manager (--certificate-provider).
//  2. The cluster source watches the mesh's objects and announces coalesced
//     snapshots; the control-plane loop (pkg/controlplane) takes each to the
//     CA's settings, the catalog, the ADS server and the policy statuses.
//  3. The ADS server pushes to the proxies whose identities the model changed,
//     and to the proxies whose certificates the CA renewed.
//  4. The webhook server validates policies.
func run(ctx context.Context, logger *slog.Logger, o options) error {
	// The mesh configuration is built here, once; every part is handed it.
	o.mesh = o.mesh.WithDefaults()
	if err := o.mesh.Validate(); err != nil {
		return err
	}
	if err := o.checkCertificateProvider(); err != nil {
		return err
	}
	logger.Info("starting weftd", "version", version.String(), "mesh", o.mesh.Name, "namespace", o.mesh.Namespace, "trustDomain", o.mesh.TrustDomain)
	// A part that fails to start returns at once: this stops the parts
	// already started, the HTTP servers among them.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	if len(o.files) > 0 {
		return runFiles(ctx, logger, o)
	}
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	// Every new pod gets a bootstrap Secret: client-go's default 5 requests a
	// second would queue a burst of pods for seconds.
	cfg.QPS, cfg.Burst = 200, 400
	scheme := k8s.Scheme()
	direct, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return fmt.Errorf("creating a Kubernetes client: %w", err)
	}
	web := newEndpoints()

	g, ctx := errgroup.WithContext(ctx)
	web.serve(ctx, g, o)
	// Every replica serves; only the leader writes (lead.Run, lead.Leading).
	lead, err := startLeaderElection(ctx, g, logger, o, cfg)
	if err != nil {
		return err
	}
	var (
		manager *ca.Manager
		serving *servingCertificate
	)
	if o.caEnabled {
		caReady := web.ready.flag(readyCA)
		if manager, err = startCA(ctx, g, logger, o, direct, cfg, web.registry, lead); err != nil {
			if errors.Is(err, context.Canceled) {
				return ignoreCanceled(g.Wait())
			}
			return err
		}
		caReady.Store(true)
		// One certificate from the mesh CA serves both ADS and the webhooks.
		xds, err := o.xdsEndpoint()
		if err != nil {
			return err
		}
		if serving, err = newServingCertificate(ctx, manager, o, xds.Host); err != nil {
			return err
		}
		g.Go(func() error { serving.Run(ctx, logger); return nil })
	}
	// The loop's parts that are off stay nil. Without the ADS server nothing
	// runs the loop, and the injector reads no MeshConfig (its defaults).
	// The leader also provisions Gateways of Weft's class, from the same
	// States.
	statuses := &leaderStatuses{w: statusWriters{&k8s.PolicyStatusWriter{Client: direct},
		&gateway.Provisioner{Client: direct, MeshName: o.mesh.Name, Logger: logger.With("part", "gateways")}}, gate: lead}
	g.Go(func() error {
		return lead.Run(ctx, func(ctx context.Context) error { statuses.flush(ctx, logger); return nil })
	})
	loop := &controlplane.Loop{Mesh: o.mesh, Statuses: statuses, Logger: logger,
		LogLevel: o.level, DefaultLogLevel: o.logLevel()}
	if manager != nil {
		loop.Certificates = manager
	}
	if o.xdsEnabled {
		if manager == nil {
			return errors.New("the xDS server needs the CA: drop --enable-ca=false or add --enable-xds=false")
		}
		source := &k8s.ClusterSource{
			Config:      cfg,
			Options:     k8s.OptionsFrom(o.mesh),
			QuietWindow: o.quietWindow, MaxDelay: o.maxDelay,
			Logger: logger.With("part", "source"), Registerer: web.registry,
		}
		if err := startADS(ctx, g, logger, o, manager, serving, web, loop, source); err != nil {
			return err
		}
	}
	if o.webhookEnabled {
		opts := webhook.Options{Port: o.webhookPort, CertDir: o.webhookCertDir}
		switch {
		case o.webhookCertDir != "":
		case serving != nil:
			opts.TLSOpts = []func(*tls.Config){func(c *tls.Config) {
				c.GetCertificate = func(*tls.ClientHelloInfo) (*tls.Certificate, error) { return serving.Certificate() }
			}}
			g.Go(func() error {
				return lead.Run(ctx, func(ctx context.Context) error {
					syncWebhookCABundles(ctx, direct, o.mesh.Name, manager, logger.With("part", "webhooks"))
					return nil
				})
			})
		default:
			return errors.New("the webhooks need a certificate: set --webhook-cert-dir, or run the CA")
		}
		server := webhook.NewServer(opts)
		hooks, err := webhookmetrics.New(web.registry)
		if err != nil {
			return err
		}
		server.Register(validation.Path, hooks.Handler(validation.Path, validation.NewWebhook(direct)))
		if o.injectorEnabled {
			if err := startInjector(ctx, g, logger, o, manager, direct, cfg, scheme, server, hooks, loop.MeshConfig, lead); err != nil {
				return err
			}
		}
		g.Go(func() error { return server.Start(ctx) })
	}
	return g.Wait()
}

func newRegistry() *prometheus.Registry {
	registry := prometheus.NewRegistry()
	registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	registry.MustRegister(version.Collectors()...)
	return registry
}

// endpoints are weftd's metrics registry and HTTP handlers, which the parts
// fill as they start.
type endpoints struct {
	registry *prometheus.Registry
	// health serves /healthz, /readyz, /metrics and the proxies' status on
	// --health-addr; debug the rest of /debug/ on --debug-addr.
	health, debug *http.ServeMux
	ready         *readiness
}

func newEndpoints() *endpoints {
	e := &endpoints{registry: newRegistry(), health: http.NewServeMux(), debug: http.NewServeMux(), ready: &readiness{}}
	e.health.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	e.health.Handle("/readyz", e.ready)
	e.health.Handle("/metrics", promhttp.HandlerFor(e.registry, promhttp.HandlerOpts{}))
	return e
}

// serve starts both servers before the parts, so that /healthz answers and
// /readyz says what weftd waits for (the mesh root, the first model).
func (e *endpoints) serve(ctx context.Context, g *errgroup.Group, o options) {
	g.Go(func() error { return serveHTTP(ctx, o.healthAddr, e.health) })
	// /debug shows every identity's access rules and endpoints: on loopback
	// by default, reached with kubectl port-forward (docs/security.md).
	if o.pprof {
		registerPprof(e.debug)
	}
	g.Go(func() error { return serveHTTP(ctx, o.debugAddr, e.debug) })
}

// registerPprof serves Go's profiles under /debug/pprof/ (--enable-pprof),
// on the debug listener only: a profile shows what weftd holds in memory.
func registerPprof(mux *http.ServeMux) {
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
}

// startCA starts the certificate manager on the chosen provider, and the
// ingress gateway's certificate, which only the leader writes.
func startCA(ctx context.Context, g *errgroup.Group, logger *slog.Logger, o options, c client.Client, cfg *rest.Config, reg prometheus.Registerer, lead *gate) (*ca.Manager, error) {
	var (
		manager *ca.Manager
		err     error
	)
	if o.usesCertManager() {
		manager, err = startCertManagerSigner(ctx, g, logger, o, c, cfg, reg)
	} else {
		manager, err = startInternalCA(ctx, g, logger, o, c, reg, lead)
	}
	if err != nil {
		return nil, err
	}
	gateway := ingressgateway.NewReconciler(ingressgateway.APIStore{Client: c}, manager, o.mesh.Namespace, nil, logger.With("part", "ingress-gateway"))
	g.Go(func() error {
		return lead.Run(ctx, func(ctx context.Context) error { return gateway.Run(ctx, cfg, k8s.Scheme(), nil) })
	})
	return manager, nil
}

// startInternalCA loads the mesh root from its Secret and signs with it. Only
// the leader creates or restores the Secret; followers wait for it.
func startInternalCA(ctx context.Context, g *errgroup.Group, logger *slog.Logger, o options, c client.Client, reg prometheus.Registerer, lead *gate) (*ca.Manager, error) {
	store := &internalca.SecretStore{Client: c, Namespace: o.mesh.Namespace, Name: o.caSecretName, Logger: logger.With("part", "ca"),
		TrustedElsewhere: rootTrustedElsewhere(c, o.mesh.Name, o.webhookEnabled && o.webhookCertDir == ""), AllowNewRoot: o.allowNewRoot,
		Leading: lead.Leading}
	roots, err := store.LoadOrCreate(ctx)
	if err != nil {
		return nil, fmt.Errorf("loading the mesh root: %w", err)
	}
	authority := internalca.New(roots, nil)
	manager, err := startManager(ctx, g, logger, o, authority, reg)
	if err != nil {
		return nil, err
	}
	g.Go(func() error { store.Follow(ctx, authority, nil, 10*time.Second, logger.With("part", "ca")); return nil })
	return manager, nil
}

// startManager runs the certificate manager (issuance and renewals) over
// signer.
func startManager(ctx context.Context, g *errgroup.Group, logger *slog.Logger, o options, signer ca.Signer, reg prometheus.Registerer) (*ca.Manager, error) {
	manager, err := ca.NewManager(ca.Options{Signer: signer, TrustDomain: o.mesh.TrustDomain, Logger: logger.With("part", "ca"), Registerer: reg})
	if err != nil {
		return nil, err
	}
	g.Go(func() error { return ignoreCanceled(manager.Run(ctx)) })
	return manager, nil
}

// startADS runs the ADS server, its debug and status endpoints and the
// control-plane loop on source.
func startADS(ctx context.Context, g *errgroup.Group, logger *slog.Logger, o options, manager *ca.Manager, serving *servingCertificate,
	web *endpoints, loop *controlplane.Loop, source k8s.Source) error {
	mesh := xds.NewMesh(manager)
	server, err := xds.NewServer(ctx, xds.Options{
		Config: mesh.Config, Authenticate: manager.AuthenticateProxy, TrustDomain: o.mesh.TrustDomain,
		Logger: logger.With("part", "xds"), Registerer: web.registry,
	})
	if err != nil {
		return err
	}
	g.Go(func() error { server.FollowRenewals(ctx, manager.Subscribe()); return nil })

	loop.Model, loop.Server = mesh, server
	pods := &podIndex{}
	if loop.Workloads != nil {
		loop.Workloads = podReceivers{loop.Workloads, pods}
	} else {
		loop.Workloads = pods
	}
	web.ready.add(readyInformers, loop.Applied)
	g.Go(func() error { return ignoreCanceled(loop.Run(ctx, source)) })

	grpcServer := server.NewGRPCServer(xds.TLSConfig(serving.Certificate, manager.BundlePool))
	lis, err := xds.Listen(ctx, net.JoinHostPort("", strconv.Itoa(o.xdsPort)))
	if err != nil {
		return fmt.Errorf("ADS server: %w", err)
	}
	// The listener accepts from here on; Serve answers what it queues.
	web.ready.flag(readyADS).Store(true)
	g.Go(func() error { return grpcServer.Serve(lis) })
	g.Go(func() error { <-ctx.Done(); grpcServer.GracefulStop(); return nil })
	registerDebug(web.debug, server, mesh)
	web.health.Handle(proxyStatusPath, proxyStatusHandler(server, pods))
	return nil
}

// startInjector registers the sidecar injection webhook on server and writes
// and renews the bootstrap Secret of every injected pod that exists.
func startInjector(ctx context.Context, g *errgroup.Group, logger *slog.Logger, o options, manager *ca.Manager, direct client.Client,
	cfg *rest.Config, scheme *runtime.Scheme, server webhook.Server, hooks *webhookmetrics.Metrics, meshConfig func() *configv1alpha2.MeshConfig, lead *gate) error {
	if manager == nil {
		return errors.New("sidecar injection needs the CA: drop --enable-ca=false or add --enable-injector=false")
	}
	// Namespaces and service accounts are read on every admission, pods by
	// the bootstrap Secrets' loop: from an informer cache that holds only
	// injected pods.
	injected, err := labels.NewRequirement(injector.LabelProxyUUID, selection.Exists, nil)
	if err != nil {
		return err
	}
	objects, err := cache.New(cfg, cache.Options{Scheme: scheme, ByObject: map[client.Object]cache.ByObject{
		&corev1.Pod{}: {Label: labels.NewSelector().Add(*injected)},
	}})
	if err != nil {
		return err
	}
	g.Go(func() error { return objects.Start(ctx) })
	inject, err := injector.NewWebhook(injector.Options{
		MeshName: o.mesh.Name, MeshNamespace: o.mesh.Namespace,
		Namespaces: injector.NamespacesFrom(objects),
		// A service account created a moment before its pod may not be in
		// the cache yet: a miss asks the API server.
		ServiceAccounts: injector.ServiceAccountsFrom(objects, direct),
		MeshConfig:      meshConfig,
		Logger:          logger.With("part", "injector"),
	})
	if err != nil {
		return err
	}
	server.Register(injector.Path, hooks.Handler(injector.Path, inject))
	xds, err := o.xdsEndpoint()
	if err != nil {
		return err
	}
	// Proxy certificates in bootstrap Secrets are written for pods that
	// exist and renewed before they expire; sidecars reread them through
	// file-based SDS.
	secrets := &injector.BootstrapSecrets{
		MeshName:     o.mesh.Name,
		XDS:          xds,
		Certificates: manager, Client: direct, Namespaces: injector.NamespacesFrom(objects),
		Logger: logger.With("part", "bootstrap-secrets"),
	}
	g.Go(func() error {
		return lead.Run(ctx, func(ctx context.Context) error { return secrets.Run(ctx, objects, 0) })
	})
	return nil
}

func ignoreCanceled(err error) error {
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}

func restConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading Kubernetes client configuration: %w", err)
	}
	return cfg, nil
}

// serveHTTP serves handler on addr until ctx ends.
func serveHTTP(ctx context.Context, addr string, handler http.Handler) error {
	srv := &http.Server{Addr: addr, Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("HTTP server on %s: %w", addr, err)
	}
	return nil
}
