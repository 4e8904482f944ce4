package testenv

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"testing"
	"time"

	"sigs.k8s.io/controller-runtime/pkg/webhook"
)

// ServeWebhooks serves handlers (keyed by path) where the webhook configurations
// installed by WithWebhooks point, until the test ends. It returns once the
// server accepts TLS connections, so the API server's first call succeeds.
func (e *Env) ServeWebhooks(t testing.TB, handlers map[string]http.Handler) {
	t.Helper()
	o := e.Webhook
	server := webhook.NewServer(webhook.Options{Host: o.LocalServingHost, Port: o.LocalServingPort, CertDir: o.LocalServingCertDir})
	for path, h := range handlers {
		server.Register(path, h)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- server.Start(ctx) }()
	// Registered after the control plane's cleanup, so the server stops first.
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Logf("webhook server: %v", err)
		}
	})
	addr := net.JoinHostPort(o.LocalServingHost, strconv.Itoa(o.LocalServingPort))
	deadline := time.Now().Add(10 * time.Second)
	for {
		conn, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe only
		if err == nil {
			conn.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatal(fmt.Errorf("webhook server on %s did not start: %w", addr, err))
		}
		time.Sleep(20 * time.Millisecond)
	}
}
