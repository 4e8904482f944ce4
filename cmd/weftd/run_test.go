package main

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/internal/testenv"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// TestWeftdServesTheBookstore runs weftd, with its webhooks, against a real API
// server holding the bookstore story: the bookstore's pods are injected, and a
// bookstore proxy with a certificate from the mesh root weftd created receives
// bookstore's configuration over ADS.
func TestWeftdServesTheBookstore(t *testing.T) {
	// The controller manager makes the Deployments' Pods, which tie the
	// bookstore Services to the bookstore service account, and which the API
	// server sends through weftd's injection webhook. testenv points both
	// webhook configurations at weftd's webhook server, with its own
	// certificate.
	env := testenv.Start(t, testenv.WithControllerManager(),
		testenv.WithWebhooks(testenv.ValidatingWebhooks, testenv.MutatingWebhooks))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env.ApplyFiles(t, "examples/osm-system-namespace.yaml")

	o := clusterOptions(t, env.KubeconfigPath)
	o.webhookPort, o.webhookCertDir = env.Webhook.LocalServingPort, env.Webhook.LocalServingCertDir
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)), o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("weftd: %v", err)
		}
	})
	testenv.Eventually(t, "weftd serves its webhooks", func() bool {
		conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(o.webhookPort)), &tls.Config{InsecureSkipVerify: true}) //nolint:gosec // readiness probe only
		if err != nil {
			return false
		}
		conn.Close()
		return true
	})
	for _, f := range []string{"examples/meshconfig.yaml", "examples/bookstore", "examples/policies"} {
		env.ApplyFiles(t, f)
	}

	// The mesh root weftd keeps in its Secret signs a proxy certificate, as
	// the injector inside weftd would.
	var secret corev1.Secret
	testenv.Eventually(t, "weftd creates the mesh root Secret", func() bool {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: "osm-system", Name: "osm-ca-bundle"}, &secret) == nil
	})
	manager, proxy, pair := proxyFromRoot(t, secret.Data[internalca.KeyCert], secret.Data[internalca.KeyKey], secret.Data[internalca.KeyBundle],
		identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"})
	conn, err := grpc.NewClient("127.0.0.1:"+strconv.Itoa(o.xdsPort), grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair}, RootCAs: manager.BundlePool(), ServerName: "weftd.osm-system.svc", MinVersion: tls.VersionTLS12,
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	keepOpen := t.Cleanup // the whole test's, not a subtest's
	t.Run("a bookstore proxy receives its listeners over ADS", func(t *testing.T) {
		// Each try is a new stream, closed unless it got the listeners: the
		// model may not hold bookstore's services yet when weftd first
		// answers. The stream that did stays open, so the proxy stays
		// connected for the debug endpoint below.
		// This proxy is of no pod that asks to be scraped: no Prometheus listener.
		testenv.Eventually(t, "weftd serves bookstore's inbound and outbound listeners", func() bool {
			streamCtx, cancel := context.WithCancel(ctx)
			stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(streamCtx)
			if err == nil {
				err = stream.Send(&discovery.DiscoveryRequest{Node: &core.Node{Id: proxy.CommonName("cluster.local")}, TypeUrl: resource.ListenerType})
			}
			var resp *discovery.DiscoveryResponse
			if err == nil {
				resp, err = stream.Recv()
			}
			if err != nil || len(resp.GetResources()) < 2 {
				cancel()
				return false
			}
			keepOpen(cancel)
			return true
		})
	})

	t.Run("the debug endpoint shows the connected bookstore proxy's configuration with bookbuyer allowed", func(t *testing.T) {
		// The model follows the Pods the controller manager makes.
		testenv.Eventually(t, "bookbuyer is admitted", func() bool {
			return strings.Contains(get(t, "http://"+o.debugAddr+"/debug/config_dump?identity=bookstore/bookstore"),
				"spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer")
		})
	})

	t.Run("the bookstore's pods come out of admission with the sidecar and a bootstrap Secret", func(t *testing.T) {
		var pods corev1.PodList
		testenv.Eventually(t, "a bookstore pod exists", func() bool {
			return env.Client.List(ctx, &pods, client.InNamespace("bookstore")) == nil && len(pods.Items) > 0
		})
		pod := pods.Items[0]
		if !slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == "envoy" }) {
			t.Fatalf("pod %s has no envoy container: %v", pod.Name, pod.Spec.Containers)
		}
		uuid := pod.Labels["osm-proxy-uuid"]
		var bootstrap corev1.Secret
		testenv.Eventually(t, "the bootstrap Secret of "+pod.Name, func() bool {
			return env.Client.Get(ctx, client.ObjectKey{Namespace: "bookstore", Name: "envoy-bootstrap-config-" + uuid}, &bootstrap) == nil
		})
		if !metav1.IsControlledBy(&bootstrap, &pod) {
			t.Errorf("bootstrap Secret owners %v, want the pod", bootstrap.OwnerReferences)
		}
	})

	t.Run("policies show whether they are in force", func(t *testing.T) {
		testenv.Eventually(t, "the Retry is rejected while the retry feature is off, the UpstreamTrafficSetting committed", func() bool {
			var retry policyv1alpha1.Retry
			var uts policyv1alpha1.UpstreamTrafficSetting
			return env.Client.Get(ctx, client.ObjectKey{Namespace: "bookbuyer", Name: "bookbuyer-retry"}, &retry) == nil &&
				env.Client.Get(ctx, client.ObjectKey{Namespace: "bookstore", Name: "bookstore-limits"}, &uts) == nil &&
				retry.Status.CurrentStatus == "rejected" && strings.Contains(retry.Status.Reason, "enableRetryPolicy is off") &&
				uts.Status.CurrentStatus == "committed"
		})
		testenv.Eventually(t, "the rejection is an event on the Retry", func() bool {
			var events corev1.EventList
			if err := env.Client.List(ctx, &events, client.InNamespace("bookbuyer")); err != nil {
				return false
			}
			for _, e := range events.Items {
				if e.InvolvedObject.Name == "bookbuyer-retry" && e.Reason == "PolicyRejected" && e.Type == corev1.EventTypeWarning {
					return true
				}
			}
			return false
		})
	})

	t.Run("the metrics count the connected proxy", func(t *testing.T) {
		body := get(t, "http://"+o.healthAddr+"/metrics")
		if !strings.Contains(body, "weft_xds_connected_proxies 1") {
			t.Errorf("weft_xds_connected_proxies is not 1 in:\n%.3000s", body)
		}
	})

	t.Run("the webhook configurations trust the mesh roots", func(t *testing.T) {
		// Last: from here on the API server no longer trusts the test's
		// webhook certificate, only the mesh's roots.
		if err := patchWebhookCABundles(ctx, env.Client, "osm", manager.Bundle()); err != nil {
			t.Fatal(err)
		}
		var v admissionregistrationv1.ValidatingWebhookConfiguration
		var m admissionregistrationv1.MutatingWebhookConfiguration
		if err := env.Client.Get(ctx, client.ObjectKey{Name: mesh.ValidatingWebhookName("osm")}, &v); err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Get(ctx, client.ObjectKey{Name: mesh.MutatingWebhookName("osm")}, &m); err != nil {
			t.Fatal(err)
		}
		if string(v.Webhooks[0].ClientConfig.CABundle) != string(manager.Bundle()) || string(m.Webhooks[0].ClientConfig.CABundle) != string(manager.Bundle()) {
			t.Error("the webhook configurations' caBundle is not the mesh bundle")
		}
	})
}

// clusterOptions runs every part of weftd on free loopback ports against
// kubeconfig's API server.
func clusterOptions(t *testing.T, kubeconfig string) options {
	t.Helper()
	ports := testenv.FreePorts(t, "127.0.0.1", 4)
	return options{
		mesh:      mesh.Defaults(),
		caEnabled: true, caSecretName: "osm-ca-bundle", xdsEnabled: true, xdsPort: ports[0], xdsServiceName: "weftd",
		quietWindow: 20 * time.Millisecond, maxDelay: 200 * time.Millisecond,
		healthAddr:     "127.0.0.1:" + strconv.Itoa(ports[1]),
		debugAddr:      "127.0.0.1:" + strconv.Itoa(ports[2]),
		kubeconfig:     kubeconfig,
		webhookEnabled: true, injectorEnabled: true, webhookPort: ports[3],
	}
}

func get(t *testing.T, url string) string {
	t.Helper()
	var body []byte
	testenv.Eventually(t, "GET "+url, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		body, err = io.ReadAll(resp.Body)
		return err == nil && resp.StatusCode == http.StatusOK
	})
	return string(body)
}
