package injector_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/injector"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

func newWebhook(t testing.TB, certs injector.ProxyCertificates, secrets injector.SecretCreator, nss ...*corev1.Namespace) *injector.Webhook {
	t.Helper()
	w, err := injector.NewWebhook(injector.Options{
		MeshName: "osm", MeshNamespace: "osm-system",
		Certificates: certs, Secrets: secrets, Namespaces: namespaces(nss...),
		MeshConfig: func() *configv1alpha2.MeshConfig { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}

func TestWebhookAnswers(t *testing.T) {
	authority := newCA(t)
	tests := []struct {
		name      string
		namespace string
		pod       *corev1.Pod
		dryRun    bool
		certs     injector.ProxyCertificates
		secretErr error
		// wantPatched: allowed with the sidecar; else wantDenied (a
		// substring of the message) or allowed untouched.
		wantPatched bool
		wantDenied  string
		wantSecrets int
	}{
		{name: "a pod in a meshed namespace is patched and its bootstrap Secret created",
			namespace: "bookstore", pod: appPod("bookstore"), certs: authority, wantPatched: true, wantSecrets: 1},
		{name: "a dry run is patched but creates no Secret",
			namespace: "bookstore", pod: appPod("bookstore"), dryRun: true, certs: authority, wantPatched: true},
		{name: "a pod in an unmonitored namespace is allowed untouched",
			namespace: "plain", pod: appPod("web"), certs: authority},
		{name: "a pod whose certificate cannot be issued is denied with a message naming it and its namespace",
			namespace: "bookstore", pod: appPod("bookstore"), certs: failingCertificates{errors.New("signer unavailable")},
			wantDenied: "weft sidecar injection for pod bookstore in namespace bookstore: issuing the proxy certificate: signer unavailable"},
		{name: "a pod whose Secret cannot be created is denied",
			namespace: "bookstore", pod: appPod("bookstore"), certs: authority, secretErr: errors.New("etcd is slow"),
			wantDenied: "creating bootstrap Secret envoy-bootstrap-config-"},
		{name: "a pod with only a generateName is named by it in a denial",
			namespace: "bookstore", pod: func() *corev1.Pod { p := appPod(""); p.GenerateName = "bookstore-7d9f-"; return p }(),
			certs: failingCertificates{errors.New("no")}, wantDenied: "pod bookstore-7d9f-* in namespace bookstore"},
		{name: "a pod with a malformed exclusion annotation is denied naming the annotation",
			namespace: "bookstore", pod: func() *corev1.Pod {
				p := appPod("bookstore")
				p.Annotations = map[string]string{"openservicemesh.io/inbound-port-exclusion-list": "http"}
				return p
			}(), certs: authority, wantDenied: `annotation openservicemesh.io/inbound-port-exclusion-list: "http" is not a port number`},
		{name: "a pod in a namespace that cannot be read is denied",
			namespace: "missing", pod: appPod("x"), certs: authority, wantDenied: `reading the namespace: namespaces "missing" not found`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			secrets := &recordingSecrets{err: tt.secretErr}
			w := newWebhook(t, tt.certs, secrets, meshed("bookstore"), namespace("plain", nil, nil))
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
			if len(secrets.created) != tt.wantSecrets {
				t.Errorf("created %d Secrets, want %d", len(secrets.created), tt.wantSecrets)
			}
		})
	}
}

func TestBootstrapSecretNamesTheProxyOfThePatchedPod(t *testing.T) {
	authority := newCA(t)
	secrets := &recordingSecrets{}
	w := newWebhook(t, authority, secrets, meshed("bookstore"))
	req := createRequest(t, "bookstore", appPod("bookstore-v1"), false)
	resp := w.Handle(context.Background(), req)
	pod := applyPatch(t, req.Object.Raw, resp)
	id := pod.Labels[injector.LabelProxyUUID]
	if len(secrets.created) != 1 {
		t.Fatalf("created %d Secrets, want 1", len(secrets.created))
	}
	s := secrets.created[0]
	if s.Name != "envoy-bootstrap-config-"+id || s.Namespace != "bookstore" || s.Labels[injector.LabelProxyUUID] != id || s.Labels["app.kubernetes.io/managed-by"] != "weft" {
		t.Errorf("Secret %s/%s labelled %v; want envoy-bootstrap-config-%s in bookstore labelled with the proxy and managed-by weft", s.Namespace, s.Name, s.Labels, id)
	}
	if v := pod.Spec.Volumes[len(pod.Spec.Volumes)-1]; v.Secret == nil || v.Secret.SecretName != s.Name {
		t.Errorf("pod's bootstrap volume %+v does not mount Secret %s", v, s.Name)
	}
	chain, err := ca.ParseCertificatesPEM(s.Data["tls.crt"])
	if err != nil {
		t.Fatal(err)
	}
	proxy, err := authority.VerifyProxyCertificate(chain)
	if err != nil {
		t.Fatal(err)
	}
	want := ca.Proxy{ID: id, Kind: ca.ProxySidecar, Identity: ca.Identity{Namespace: "bookstore", ServiceAccount: "bookstore-v1"}}
	if proxy != want {
		t.Errorf("certificate names proxy %v, want %v", proxy, want)
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
	for _, want := range []string{"missing Options.MeshNamespace", "missing Options.Certificates", "missing Options.Secrets", "missing Options.Namespaces", "missing Options.MeshConfig"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error = %v, want it to say %q", err, want)
		}
	}
}
