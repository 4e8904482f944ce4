package injector_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/protobuf/types/known/durationpb"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	testingclock "k8s.io/utils/clock/testing"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/internal/testenv"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/xds"
)

// TestInjectionOnAPIServer installs manifests/webhooks/mutating.yaml on a real
// API server (envtest points it at the test's webhook server) and creates pods:
// the webhook configuration's selectors and the webhook's decisions together
// give each pod its sidecar or leave it alone; the bootstrap Secret's proxy
// certificate opens an ADS stream on a real xDS server; and the collector
// deletes only Secrets no pod uses.
func TestInjectionOnAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.WithWebhooks("manifests/webhooks/mutating.yaml"))
	ctx := context.Background()
	suffix := uuid.NewString()[:8]
	name := func(base string) string { return base + "-" + suffix }
	authority := newCA(t)

	meshedNS := name("bookstore")
	optInNS := name("opt-in")
	plainNS := name("plain")
	otherMeshNS := name("other-mesh")
	for _, ns := range []*corev1.Namespace{
		namespace(meshedNS, map[string]string{injector.LabelMonitoredBy: "osm"},
			map[string]string{injector.AnnotationSidecarInjection: "enabled", injector.AnnotationMetrics: "enabled"}),
		namespace(optInNS, map[string]string{injector.LabelMonitoredBy: "osm"}, nil),
		namespace(plainNS, nil, map[string]string{injector.AnnotationSidecarInjection: "enabled"}),
		namespace(otherMeshNS, map[string]string{injector.LabelMonitoredBy: "other"}, map[string]string{injector.AnnotationSidecarInjection: "enabled"}),
	} {
		if err := env.Client.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	// kube-system monitored and annotated: the selector still keeps it out.
	var kubeSystem corev1.Namespace
	if err := env.Client.Get(ctx, client.ObjectKey{Name: "kube-system"}, &kubeSystem); err != nil {
		t.Fatal(err)
	}
	kubeSystem.Labels[injector.LabelMonitoredBy] = "osm"
	kubeSystem.Annotations = map[string]string{injector.AnnotationSidecarInjection: "enabled"}
	if err := env.Client.Update(ctx, &kubeSystem); err != nil {
		t.Fatal(err)
	}

	createPod := func(t *testing.T, ns string, pod *corev1.Pod, opts ...client.CreateOption) (*corev1.Pod, error) {
		t.Helper()
		pod.Namespace = ns
		err := env.Client.Create(ctx, pod, opts...)
		return pod, err
	}

	t.Run("while weftd is down, kube-system pods are created and meshed pods are refused", func(t *testing.T) {
		pod, err := createPod(t, "kube-system", appPod(name("coredns")))
		if err != nil {
			t.Fatalf("kube-system pod refused while the webhook is down: %v", err)
		}
		if container(pod, injector.EnvoyContainerName) != nil {
			t.Error("kube-system pod was injected")
		}
		_, err = createPod(t, meshedNS, appPod("early"))
		if err == nil || !strings.Contains(err.Error(), `failed calling webhook "sidecar-injector.weft-mesh.io"`) {
			t.Fatalf("meshed pod created while the webhook is down (err %v); want it refused (failurePolicy Fail)", err)
		}
	})

	webhook, err := injector.NewWebhook(injector.Options{
		MeshName: "osm", MeshNamespace: "osm-system",
		Certificates: authority, Secrets: env.Client, Namespaces: injector.NamespacesFrom(env.Client),
		MeshConfig: func() *configv1alpha2.MeshConfig { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	env.ServeWebhooks(t, map[string]http.Handler{injector.Path: webhook.HTTPHandler()})

	injectedPods := map[string]*corev1.Pod{}
	t.Run("pods are patched or left alone", func(t *testing.T) {
		hostNetwork := appPod("node-agent")
		hostNetwork.Spec.HostNetwork = true
		optedIn := appPod("opted-in")
		optedIn.Annotations = map[string]string{injector.AnnotationSidecarInjection: "enabled"}
		optedOut := appPod("opted-out")
		optedOut.Annotations = map[string]string{injector.AnnotationSidecarInjection: "disabled"}
		annotatedElsewhere := appPod("annotated")
		annotatedElsewhere.Annotations = map[string]string{injector.AnnotationSidecarInjection: "enabled"}
		generated := appPod("bookstore-v1")
		generated.Name, generated.GenerateName = "", "bookstore-v1-"
		generated.Spec.ServiceAccountName = "bookstore"
		tests := []struct {
			name         string
			namespace    string
			pod          *corev1.Pod
			wantInjected bool
			wantMetrics  bool
		}{
			{name: "a pod in a monitored namespace with injection enabled is injected, with metrics annotations", namespace: meshedNS, pod: appPod("bookstore"), wantInjected: true, wantMetrics: true},
			{name: "a pod named by generateName is injected", namespace: meshedNS, pod: generated, wantInjected: true, wantMetrics: true},
			{name: "a hostNetwork pod is left alone", namespace: meshedNS, pod: hostNetwork},
			{name: "a pod annotated disabled is left alone", namespace: meshedNS, pod: optedOut},
			{name: "a pod annotated enabled in a monitored namespace without the annotation is injected", namespace: optInNS, pod: optedIn, wantInjected: true},
			{name: "a pod in a monitored namespace without the annotation is left alone", namespace: optInNS, pod: appPod("default")},
			{name: "a pod in an unmonitored namespace is left alone even when annotated", namespace: plainNS, pod: annotatedElsewhere},
			{name: "a pod in a namespace of another mesh is left alone", namespace: otherMeshNS, pod: appPod("theirs")},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				got, err := createPod(t, tt.namespace, tt.pod)
				if err != nil {
					t.Fatal(err)
				}
				envoy := container(got, injector.EnvoyContainerName)
				id := got.Labels[injector.LabelProxyUUID]
				if (envoy != nil) != tt.wantInjected || (id != "") != tt.wantInjected || (initContainer(got, injector.InitContainerName) != nil) != tt.wantInjected {
					t.Fatalf("pod %s/%s: envoy container %v, proxy label %q, init containers %d; want injected %v", got.Namespace, got.Name, envoy != nil, id, len(got.Spec.InitContainers), tt.wantInjected)
				}
				if (got.Annotations[injector.AnnotationPrometheusScrape] == "true") != tt.wantMetrics {
					t.Errorf("pod annotations %v; want scrape annotations %v", got.Annotations, tt.wantMetrics)
				}
				if !tt.wantInjected {
					return
				}
				injectedPods[id] = got
				var secret corev1.Secret
				if err := env.Client.Get(ctx, client.ObjectKey{Namespace: tt.namespace, Name: injector.BootstrapSecretName(id)}, &secret); err != nil {
					t.Fatalf("bootstrap Secret of proxy %s: %v", id, err)
				}
			})
		}
	})

	t.Run("a dry run shows the patch and creates no Secret", func(t *testing.T) {
		got, err := createPod(t, meshedNS, appPod("dry"), client.DryRunAll)
		if err != nil {
			t.Fatal(err)
		}
		id := got.Labels[injector.LabelProxyUUID]
		if container(got, injector.EnvoyContainerName) == nil || id == "" {
			t.Fatal("dry-run pod was not injected")
		}
		var secret corev1.Secret
		err = env.Client.Get(ctx, client.ObjectKey{Namespace: meshedNS, Name: injector.BootstrapSecretName(id)}, &secret)
		if err == nil || !strings.Contains(err.Error(), "not found") {
			t.Errorf("dry run's Secret: err %v, want not found", err)
		}
	})

	t.Run("the bootstrap Secret's certificate opens an ADS stream", func(t *testing.T) {
		if len(injectedPods) == 0 {
			t.Skip("no pod was injected")
		}
		addr := startXDS(t, authority)
		for id, pod := range injectedPods {
			var secret corev1.Secret
			if err := env.Client.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: injector.BootstrapSecretName(id)}, &secret); err != nil {
				t.Fatal(err)
			}
			resp, err := adsRequest(addr, &secret)
			if err != nil {
				t.Fatalf("proxy %s of pod %s/%s: %v", id, pod.Namespace, pod.Name, err)
			}
			if resp.GetTypeUrl() != resource.ClusterType || len(resp.GetResources()) != 1 {
				t.Errorf("proxy %s got %s with %d resources, want one cluster", id, resp.GetTypeUrl(), len(resp.GetResources()))
			}
		}
	})

	t.Run("the collector deletes only old Secrets that no pod uses", func(t *testing.T) {
		orphan := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
			Name: injector.BootstrapSecretName("0d6e3f0a-1111-4c2b-8d2e-5f9a7b3c1d00"), Namespace: meshedNS,
			Labels: map[string]string{injector.LabelProxyUUID: "0d6e3f0a-1111-4c2b-8d2e-5f9a7b3c1d00", injector.LabelManagedBy: "weft"},
		}}
		notOurs := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
			Name: "ca-root", Namespace: meshedNS, Labels: map[string]string{injector.LabelManagedBy: "weft"},
		}}
		userSecret := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
			Name: injector.BootstrapSecretName("a-user-copy"), Namespace: meshedNS, Labels: map[string]string{injector.LabelProxyUUID: "a-user-copy"},
		}}
		for _, s := range []*corev1.Secret{orphan, notOurs, userSecret} {
			if err := env.Client.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		// A deleted pod leaves its Secret behind. Unscheduled pods are
		// deleted at once.
		var gone *corev1.Pod
		for _, p := range injectedPods {
			gone = p
			break
		}
		if err := env.Client.Delete(ctx, gone); err != nil {
			t.Fatal(err)
		}

		deleted, err := injector.CollectBootstrapSecrets(ctx, env.Client, time.Now(), injector.DefaultBootstrapSecretGracePeriod)
		if err != nil || len(deleted) != 0 {
			t.Fatalf("within the grace period deleted %v (err %v), want nothing", deleted, err)
		}
		deleted, err = injector.CollectBootstrapSecrets(ctx, env.Client, time.Now().Add(10*time.Minute), injector.DefaultBootstrapSecretGracePeriod)
		if err != nil {
			t.Fatal(err)
		}
		want := []string{meshedNS + "/" + orphan.Name, gone.Namespace + "/" + injector.BootstrapSecretName(gone.Labels[injector.LabelProxyUUID])}
		slices.Sort(want)
		slices.Sort(deleted)
		if !slices.Equal(deleted, want) {
			t.Errorf("deleted %v, want %v", deleted, want)
		}
		var left corev1.SecretList
		if err := env.Client.List(ctx, &left, client.HasLabels{injector.LabelProxyUUID}); err != nil {
			t.Fatal(err)
		}
		if got, want := len(left.Items), len(injectedPods)-1+1; got != want {
			t.Errorf("%d Secrets with a proxy label left, want %d (the live pods' and the user's own)", got, want)
		}
	})

	t.Run("the collector's loop collects on every tick of its clock", func(t *testing.T) {
		late := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{
			Name: injector.BootstrapSecretName("7c1d2e3f-2222-4c2b-8d2e-5f9a7b3c1d00"), Namespace: meshedNS,
			Labels: map[string]string{injector.LabelProxyUUID: "7c1d2e3f-2222-4c2b-8d2e-5f9a7b3c1d00", injector.LabelManagedBy: "weft"},
		}}
		if err := env.Client.Create(ctx, late); err != nil {
			t.Fatal(err)
		}
		clk := testingclock.NewFakeClock(time.Now().Add(10 * time.Minute))
		runCtx, stop := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() {
			done <- (&injector.SecretCollector{Client: env.Client, Clock: clk, Interval: time.Minute}).Run(runCtx)
		}()
		for !clk.HasWaiters() {
			time.Sleep(time.Millisecond)
		}
		clk.Step(time.Minute)
		waitGone(t, env.Client, client.ObjectKeyFromObject(late))
		stop()
		if err := <-done; err != nil {
			t.Errorf("Run returned %v after its context ended, want nil", err)
		}
	})
}

// waitGone polls until the Secret is deleted.
func waitGone(t *testing.T, c client.Client, key client.ObjectKey) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var s corev1.Secret
		err := c.Get(context.Background(), key, &s)
		if apierrors.IsNotFound(err) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Secret %s still there (err %v)", key, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startXDS serves ADS on loopback with a trivial configuration (one cluster),
// authenticating streams with the CA as weftd does, under the name the
// bootstrap expects.
func startXDS(t *testing.T, authority *ca.Manager) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	server, err := xds.NewServer(ctx, xds.Options{
		Config: func(_ context.Context, p ca.Proxy) (xds.Resources, error) {
			return xds.Resources{resource.ClusterType: {&clusterv3.Cluster{Name: "bookstore", ConnectTimeout: durationpb.New(time.Second)}}}, nil
		},
		Authenticate: authority.VerifyProxyCertificate,
	})
	if err != nil {
		t.Fatal(err)
	}
	serving, err := authority.Issue(ctx, ca.LeafRequest{Kind: ca.KindService, CommonName: "weftd.osm-system.svc",
		DNSNames: []string{"weftd.osm-system.svc"}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(serving.CertChainPEM, serving.PrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}
	g := server.NewGRPCServer(xds.TLSConfig(func() (*tls.Certificate, error) { return &cert, nil }, authority.BundlePool))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = g.Serve(l) }()
	t.Cleanup(g.Stop)
	return l.Addr().String()
}

// adsRequest acts as the sidecar: it reads the node ID and server name from
// the Secret's bootstrap, authenticates with its tls.crt and tls.key, trusts
// its ca.crt, asks for clusters and returns the first response.
func adsRequest(addr string, secret *corev1.Secret) (*discovery.DiscoveryResponse, error) {
	var bootstrap struct {
		Node struct {
			ID string `json:"id"`
		} `json:"node"`
		StaticResources struct {
			Clusters []struct {
				TransportSocket struct {
					TypedConfig struct {
						SNI string `json:"sni"`
					} `json:"typed_config"`
				} `json:"transport_socket"`
			} `json:"clusters"`
		} `json:"static_resources"`
	}
	if err := json.Unmarshal(secret.Data[injector.BootstrapFileName], &bootstrap); err != nil {
		return nil, err
	}
	if len(bootstrap.StaticResources.Clusters) != 1 {
		return nil, fmt.Errorf("bootstrap has %d static clusters, want the xDS cluster", len(bootstrap.StaticResources.Clusters))
	}
	pair, err := tls.X509KeyPair(secret.Data[injector.CertChainFileName], secret.Data[injector.PrivateKeyFileName])
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(secret.Data[injector.TrustedCAFileName]) {
		return nil, fmt.Errorf("ca.crt holds no certificate")
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, RootCAs: roots, MinVersion: tls.VersionTLS12,
		ServerName: bootstrap.StaticResources.Clusters[0].TransportSocket.TypedConfig.SNI}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(cfg)))
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return nil, err
	}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: &corev3.Node{Id: bootstrap.Node.ID}, TypeUrl: resource.ClusterType}); err != nil {
		return nil, err
	}
	return stream.Recv()
}
