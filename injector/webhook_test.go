package injector_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/injector"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/mesh"
)

func newWebhook(t testing.TB, nss ...*corev1.Namespace) *injector.Webhook {
	t.Helper()
	w, err := injector.NewWebhook(injector.Options{
		MeshName: "osm", MeshNamespace: "osm-system",
		Namespaces: namespaces(nss...), ServiceAccounts: serviceAccounts(),
		MeshConfig: func() *configv1alpha2.MeshConfig { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhookAnswers(t *testing.T) {
	tests := []struct {
		name      string
		namespace string
		pod       *corev1.Pod
		dryRun    bool
		// wantPatched: allowed with the sidecar; else wantDenied (a
		// substring of the message) or allowed untouched.
		wantPatched bool
		wantDenied  string
	}{
		{name: "a pod in a meshed namespace is patched",
			namespace: "bookstore", pod: appPod("bookstore"), wantPatched: true},
		{name: "a dry run is patched",
			namespace: "bookstore", pod: appPod("bookstore"), dryRun: true, wantPatched: true},
		{name: "a pod in an unmonitored namespace is allowed untouched",
			namespace: "plain", pod: appPod("web")},
		{name: "a pod whose service account does not exist is denied naming it",
			namespace: "bookstore", pod: appPod(missingServiceAccount),
			wantDenied: "weft sidecar injection for pod " + missingServiceAccount + " in namespace bookstore: service account " + missingServiceAccount + ":"},
		{name: "a pod with only a generateName is named by it in a denial",
			namespace: "bookstore", pod: func() *corev1.Pod {
				p := appPod("")
				p.GenerateName, p.Spec.ServiceAccountName = "bookstore-7d9f-", missingServiceAccount
				return p
			}(), wantDenied: "pod bookstore-7d9f-* in namespace bookstore"},
		{name: "a pod with a malformed exclusion annotation is denied naming the annotation",
			namespace: "bookstore", pod: func() *corev1.Pod {
				p := appPod("bookstore")
				p.Annotations = map[string]string{"openservicemesh.io/inbound-port-exclusion-list": "http"}
				return p
			}(), wantDenied: `annotation openservicemesh.io/inbound-port-exclusion-list: "http" is not a port number`},
		{name: "a pod in a namespace that cannot be read is denied",
			namespace: "missing", pod: appPod("x"), wantDenied: `reading the namespace: namespaces "missing" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := newWebhook(t, meshed("bookstore"), namespace("plain", nil, nil))
			req := createRequest(t, tt.namespace, tt.pod, tt.dryRun)
			resp := w.Handle(context.Background(), req)
			switch {
			case tt.wantDenied != "":
				if resp.Allowed || !strings.Contains(resp.Result.Message, tt.wantDenied) {
					t.Fatalf("response allowed=%v %q, want denied with %q", resp.Allowed, resp.Result.Message, tt.wantDenied)
				}
			case tt.wantPatched:
				if !resp.Allowed || len(resp.Patches) == 0 {
					t.Fatalf("response allowed=%v with %d patches (%v), want a patch", resp.Allowed, len(resp.Patches), resp.Result)
				}
				got := applyPatch(t, req.Object.Raw, resp)
				if container(got, injector.EnvoyContainerName) == nil || got.Labels[injector.LabelProxyUUID] == "" {
					t.Errorf("patched pod lacks the envoy container or the proxy label: %+v", got)
				}
			default:
				if !resp.Allowed || len(resp.Patches) != 0 {
					t.Fatalf("response allowed=%v with %d patches, want allowed untouched", resp.Allowed, len(resp.Patches))
				}
			}
		})
	}
}

// TestBootstrapSecretNamesTheProxyOfThePatchedPod: the proxy read back from a
// patched pod is the one its bootstrap volume mounts, and the Secret built
// for it names that proxy in its certificate and its bootstrap.
func TestBootstrapSecretNamesTheProxyOfThePatchedPod(t *testing.T) {
	authority := newCA(t)
	w := newWebhook(t, meshed("bookstore"))
	req := createRequest(t, "bookstore", appPod("bookstore-v1"), false)
	resp := w.Handle(context.Background(), req)
	pod := applyPatch(t, req.Object.Raw, resp)
	pod.Namespace = "bookstore"
	id := pod.Labels[injector.LabelProxyUUID]
	proxy, err := injector.ProxyOfPod(pod)
	if err != nil {
		t.Fatal(err)
	}
	want := ca.Proxy{ID: id, Kind: ca.ProxySidecar, Identity: identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore-v1"}}
	if proxy != want {
		t.Fatalf("ProxyOfPod = %v, want %v", proxy, want)
	}
	cert, err := authority.ProxyCertificate(context.Background(), proxy)
	if err != nil {
		t.Fatal(err)
	}
	s, err := injector.BootstrapSecret(proxy, cert, "cluster.local", injector.XDSEndpointFor("", mesh.Defaults(), 0))
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "envoy-bootstrap-config-"+id || s.Namespace != "bookstore" || s.Labels[injector.LabelProxyUUID] != id || s.Labels["app.kubernetes.io/managed-by"] != "weft" {
		t.Errorf("Secret %s/%s labelled %v; want envoy-bootstrap-config-%s in bookstore labelled with the proxy and managed-by weft", s.Namespace, s.Name, s.Labels, id)
	}
	if v := pod.Spec.Volumes[len(pod.Spec.Volumes)-1]; v.Secret == nil || v.Secret.SecretName != s.Name {
		t.Errorf("pod's bootstrap volume %+v does not mount Secret %s", v, s.Name)
	}
	var bootstrap struct {
		Node struct {
			ID      string `json:"id"`
			Cluster string `json:"cluster"`
		} `json:"node"`
		StaticResources struct {
			Clusters []struct {
				LoadAssignment struct {
					Endpoints []struct {
						LbEndpoints []struct {
							Endpoint struct {
								Address struct {
									SocketAddress struct {
										Address   string `json:"address"`
										PortValue int    `json:"port_value"`
									} `json:"socket_address"`
								} `json:"address"`
							} `json:"endpoint"`
						} `json:"lb_endpoints"`
					} `json:"endpoints"`
				} `json:"load_assignment"`
			} `json:"clusters"`
		} `json:"static_resources"`
	}
	if err := json.Unmarshal(s.Data["bootstrap.json"], &bootstrap); err != nil {
		t.Fatal(err)
	}
	if bootstrap.Node.ID != want.CommonName("cluster.local") {
		t.Errorf("bootstrap node id %q, want %q", bootstrap.Node.ID, want.CommonName("cluster.local"))
	}
	addr := bootstrap.StaticResources.Clusters[0].LoadAssignment.Endpoints[0].LbEndpoints[0].Endpoint.Address.SocketAddress
	if addr.Address != "weftd.osm-system.svc.cluster.local" || addr.PortValue != 15128 {
		t.Errorf("bootstrap xDS address %s:%d, want weftd.osm-system.svc.cluster.local:15128", addr.Address, addr.PortValue)
	}
	if string(s.Data["ca.crt"]) != string(authority.Bundle()) || len(s.Data["tls.key"]) == 0 {
		t.Error("Secret's ca.crt is not the mesh's bundle, or it has no key")
	}
}

func TestNewWebhookNamesMissingOptions(t *testing.T) {
	_, err := injector.NewWebhook(injector.Options{MeshName: "osm"})
	for _, want := range []string{"missing Options.MeshNamespace", "missing Options.Namespaces", "missing Options.ServiceAccounts", "missing Options.MeshConfig"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to say %q", err, want)
		}
	}
}

func TestProxyOfPodRefusesPodsWeftDidNotInject(t *testing.T) {
	w := newWebhook(t, meshed("bookstore"))
	req := createRequest(t, "bookstore", appPod("bookstore"), false)
	injected := applyPatch(t, req.Object.Raw, w.Handle(context.Background(), req))
	injected.Namespace = "bookstore"
	tests := []struct {
		name   string
		change func(p *corev1.Pod)
		want   string
	}{
		{name: "a pod without the proxy label", change: func(p *corev1.Pod) { delete(p.Labels, injector.LabelProxyUUID) }, want: "no osm-proxy-uuid label"},
		{name: "a pod without the envoy container", change: func(p *corev1.Pod) { p.Spec.Containers = p.Spec.Containers[:1] }, want: "no envoy container"},
		{name: "a pod whose bootstrap volume mounts another proxy's Secret", change: func(p *corev1.Pod) {
			p.Spec.Volumes[len(p.Spec.Volumes)-1].Secret.SecretName = injector.BootstrapSecretName("0d6e3f0a-1111-4c2b-8d2e-5f9a7b3c1d00")
		}, want: "no envoy-bootstrap-config-volume volume mounting Secret"},
		{name: "a pod whose proxy label is not a UUID", change: func(p *corev1.Pod) {
			p.Labels[injector.LabelProxyUUID] = "bookstore"
			p.Spec.Volumes[len(p.Spec.Volumes)-1].Secret.SecretName = injector.BootstrapSecretName("bookstore")
		}, want: "is not a lower-case UUID"},
		{name: "a sidecar pod annotated proxyless after admission", change: func(p *corev1.Pod) {
			p.Annotations["weft.dev/proxyless"] = "grpc"
		}, want: "but injected with an envoy container"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := injected.DeepCopy()
			if p.Annotations == nil {
				p.Annotations = map[string]string{}
			}
			tt.change(p)
			if _, err := injector.ProxyOfPod(p); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("ProxyOfPod error = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := injector.ProxyOfPod(injected); err != nil {
		t.Errorf("the injected pod itself: %v", err)
	}
}
