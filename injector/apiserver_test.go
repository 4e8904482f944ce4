package injector_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/internal/testenv"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/mesh"
	"github.com/weft-mesh/weft/pkg/xds"
)

// TestInjectionOnAPIServer installs the chart's mutating webhook configuration on a real
// API server (envtest points it at the test's webhook server) and creates pods:
// the webhook configuration's selectors and the webhook's decisions together
// give each pod its sidecar or leave it alone; BootstrapSecrets writes each
// injected pod's Secret once the pod exists, and its proxy certificate opens
// an ADS stream on a real xDS server; an admission review posted by anyone
// but the API server makes nothing.
func TestInjectionOnAPIServer(t *testing.T) {
	env := testenv.Start(t, testenv.WithWebhooks(testenv.MutatingWebhooks))
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
		sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: pod.Spec.ServiceAccountName}}
		if err := env.Client.Create(ctx, sa); err != nil && !apierrors.IsAlreadyExists(err) {
			t.Fatal(err)
		}
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
		Namespaces: injector.NamespacesFrom(env.Client), ServiceAccounts: injector.ServiceAccountsFrom(env.Client),
		MeshConfig: func() *configv1alpha2.MeshConfig { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	env.ServeWebhooks(t, map[string]http.Handler{injector.Path: webhook.HTTPHandler()})
	secrets := &injector.BootstrapSecrets{
		MeshName: "osm", XDS: injector.XDSEndpointFor("", mesh.Defaults(), 0),
		Certificates: authority, Client: env.Client, Namespaces: injector.NamespacesFrom(env.Client),
	}
	pods, err := cache.New(env.Config, cache.Options{Scheme: env.Scheme})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	t.Cleanup(stop)
	go func() { _ = pods.Start(runCtx) }()
	go func() { _ = secrets.Run(runCtx, pods, 0) }()
	bootstrapSecret := func(t *testing.T, pod *corev1.Pod) *corev1.Secret {
		t.Helper()
		var secret corev1.Secret
		key := client.ObjectKey{Namespace: pod.Namespace, Name: injector.BootstrapSecretName(pod.Labels[injector.LabelProxyUUID])}
		testenv.Eventually(t, "bootstrap Secret "+key.String(), func() bool { return env.Client.Get(ctx, key, &secret) == nil })
		return &secret
	}

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
				bootstrapSecret(t, got)
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
			resp, err := adsRequest(addr, bootstrapSecret(t, pod))
			if err != nil {
				t.Fatalf("proxy %s of pod %s/%s: %v", id, pod.Namespace, pod.Name, err)
			}
			if resp.GetTypeUrl() != resource.ClusterType || len(resp.GetResources()) != 1 {
				t.Errorf("proxy %s got %s with %d resources, want one cluster", id, resp.GetTypeUrl(), len(resp.GetResources()))
			}
		}
	})

	t.Run("an admission review posted by a caller that is not the API server makes nothing", func(t *testing.T) {
		forged := createRequest(t, meshedNS, appPod("forged"), false).AdmissionRequest
		raw, err := json.Marshal(admissionv1.AdmissionReview{
			TypeMeta: metav1.TypeMeta{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview"},
			Request:  &forged,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := env.Client.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: meshedNS, Name: "forged"}}); err != nil {
			t.Fatal(err)
		}
		server := httptest.NewServer(webhook.HTTPHandler())
		defer server.Close()
		var issued, secretsBefore corev1.SecretList
		if err := env.Client.List(ctx, &secretsBefore, client.InNamespace(meshedNS)); err != nil {
			t.Fatal(err)
		}
		for range 50 {
			resp, err := http.Post(server.URL, "application/json", bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			var review admissionv1.AdmissionReview
			if err := json.NewDecoder(resp.Body).Decode(&review); err != nil || !review.Response.Allowed || len(review.Response.Patch) == 0 {
				t.Fatalf("answer %+v (err %v), want a patch", review.Response, err)
			}
			resp.Body.Close()
		}
		// A pod created now is served; the forged ones never were.
		later, err := createPod(t, meshedNS, appPod("later"))
		if err != nil {
			t.Fatal(err)
		}
		bootstrapSecret(t, later)
		if err := env.Client.List(ctx, &issued, client.InNamespace(meshedNS)); err != nil {
			t.Fatal(err)
		}
		if got, want := len(issued.Items), len(secretsBefore.Items)+1; got != want {
			t.Errorf("%d Secrets in %s, want %d: only the created pod's", got, meshedNS, want)
		}
	})
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
		TrustDomain:  authority.TrustDomain(),
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
