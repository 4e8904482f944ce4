package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/validation"
	"github.com/weft-mesh/weft/pkg/version"
)

// run starts every enabled part and returns when ctx ends or a part fails.
func run(ctx context.Context, logger *slog.Logger, o options) error {
	logger.Info("starting weftd", "version", version.String(), "mesh", o.meshName, "namespace", o.meshNamespace)
	cfg, err := restConfig(o.kubeconfig)
	if err != nil {
		return err
	}
	direct, err := client.New(cfg, client.Options{Scheme: k8s.Scheme()})
	if err != nil {
		return fmt.Errorf("creating a Kubernetes client: %w", err)
	}

	g, ctx := errgroup.WithContext(ctx)
	if o.webhookEnabled {
		server := webhook.NewServer(webhook.Options{Port: o.webhookPort, CertDir: o.webhookCertDir})
		server.Register(validation.Path, validation.NewWebhook(direct).HTTPHandler())
		g.Go(func() error { return server.Start(ctx) })
	}
	g.Go(func() error { return serveHealth(ctx, o.healthAddr) })
	return g.Wait()
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

func serveHealth(ctx context.Context, addr string) error {
	mux := http.NewServeMux()
	ok := func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) }
	mux.HandleFunc("/healthz", ok)
	mux.HandleFunc("/readyz", ok)
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdown)
	}()
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("health server on %s: %w", addr, err)
	}
	return nil
}
