package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strconv"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/weft-mesh/weft/ca/ingressgateway"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/pkg/controlplane"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/proxyless"
)

// runFiles runs weftd without a cluster (--files): the control-plane loop on
// the files source, which follows their edits; the CA with its root in
// --state-dir, followed (edit its files to rotate the root, as
// docs/root-rotation.md edits the Secret); ADS, /debug and /metrics as in a
// cluster; the folders of the proxyless gRPC pods in the files under
// <state-dir>/pods/<namespace>/<pod>/; the ingress gateway's certificate
// (MeshConfig certificate.ingressGateway) under
// <state-dir>/secrets/<namespace>/<name>/. The webhooks, the sidecar injector
// and policy statuses need an API server and are off.
func runFiles(ctx context.Context, logger *slog.Logger, o options) error {
	if o.stateDir == "" {
		return errors.New("--files needs --state-dir: the folder that keeps the mesh root, so that proxies keep trusting weftd across restarts")
	}
	if !o.caEnabled || !o.xdsEnabled {
		return errors.New("--files serves ADS with the CA: drop --enable-ca=false and --enable-xds=false")
	}
	logger.Info("running without a cluster on files; the webhooks, the sidecar injector and policy statuses are off",
		"files", o.files, "stateDir", o.stateDir)
	web := newEndpoints()
	g, ctx := errgroup.WithContext(ctx)
	web.serve(ctx, g, o)
	caReady := web.ready.flag(readyCA)
	store := &internalca.FileStore{Dir: o.stateDir}
	roots, err := store.LoadOrCreate()
	if err != nil {
		return fmt.Errorf("loading the mesh root: %w", err)
	}
	authority := internalca.New(roots, nil)
	manager, err := startManager(ctx, g, logger, o, authority, web.registry)
	if err != nil {
		return err
	}
	caReady.Store(true)
	g.Go(func() error { store.Follow(ctx, authority, nil, 10*time.Second, logger.With("part", "ca")); return nil })
	if o.xdsAddress == "" {
		o.xdsAddress = net.JoinHostPort("localhost", strconv.Itoa(o.xdsPort))
	}
	xds, err := o.xdsEndpoint()
	if err != nil {
		return err
	}
	serving, err := newServingCertificate(ctx, manager, o, xds.Host)
	if err != nil {
		return err
	}
	g.Go(func() error { serving.Run(ctx, logger); return nil })
	workloads := &proxyless.FileWriter{
		Dir: filepath.Join(o.stateDir, "pods"), XDSServer: net.JoinHostPort(xds.Host, strconv.Itoa(int(xds.Port))), Certificates: manager,
		Logger: logger.With("part", "proxyless"),
	}
	g.Go(func() error { return ignoreCanceled(workloads.Run(ctx)) })
	gatewayFeed := &ingressgateway.Feed{}
	gateway := ingressgateway.NewReconciler(ingressgateway.FolderStore{Dir: filepath.Join(o.stateDir, "secrets")}, manager, o.mesh.Namespace, nil, logger.With("part", "ingress-gateway"))
	g.Go(func() error { return gateway.Follow(ctx, gatewayFeed, nil) })
	loop := &controlplane.Loop{Mesh: o.mesh, Certificates: manager, Workloads: workloads, IngressGateway: gatewayFeed, Logger: logger,
		LogLevel: o.level, DefaultLogLevel: o.logLevel()}
	source := &k8s.FilesSource{
		Paths: o.files, Options: k8s.OptionsFrom(o.mesh),
		QuietWindow: o.quietWindow, MaxDelay: o.maxDelay,
		Logger: logger.With("part", "source"),
	}
	if err := startADS(ctx, g, logger, o, manager, serving, web, loop, source); err != nil {
		return err
	}
	return g.Wait()
}
