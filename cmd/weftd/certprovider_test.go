package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	cmapi "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	cmclient "github.com/cert-manager/cert-manager/pkg/client/clientset/versioned"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/uuid"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/internal/adstest"
	"github.com/weft-mesh/weft/internal/cmtest"
	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/manifests"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// TestCertificateProviderFlagsRefuseContradictions: weftd fails at start,
// before it reaches the API server, with an error naming the flag at fault.
func TestCertificateProviderFlagsRefuseContradictions(t *testing.T) {
	cm := []string{"--certificate-provider=cert-manager", "--cert-manager-issuer-name=mesh-ca"}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"an unknown provider", []string{"--certificate-provider=vault"}, "--certificate-provider \"vault\""},
		{"cert-manager without an issuer", []string{"--certificate-provider=cert-manager"}, "--cert-manager-issuer-name"},
		{"an issuer kind cert-manager has not", append(cm, "--cert-manager-issuer-kind=Certificate"), "--cert-manager-issuer-kind \"Certificate\""},
		{"an empty issuer group", append(cm, "--cert-manager-issuer-group="), "--cert-manager-issuer-group"},
		{"cert-manager in files mode", append(cm, "--files=examples/bookstore", "--state-dir=x"), "--files"},
		{"cert-manager with the CA off", append(cm, "--enable-ca=false"), "--enable-ca=false"},
		{"cert-manager with the internal CA's root Secret", append(cm, "--ca-secret=my-root"), "--ca-secret"},
		{"cert-manager with --allow-new-root", append(cm, "--"+internalca.AllowNewRootFlag), "--" + internalca.AllowNewRootFlag},
		{"a trust bundle that names no key", append(cm, "--cert-manager-trust-bundle=Secret/osm-ca-bundle"), "--cert-manager-trust-bundle"},
		{"an issuer with the internal CA", []string{"--cert-manager-issuer-name=mesh-ca"}, "--cert-manager-issuer-name"},
		{"an issuer kind with tresor", []string{"--certificate-provider=tresor", "--cert-manager-issuer-kind=ClusterIssuer"}, "--cert-manager-issuer-kind"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := newRootCommand()
			cmd.SetArgs(append(tc.args, "--kubeconfig="+filepath.Join(t.TempDir(), "none")))
			cmd.SetOut(io.Discard)
			err := cmd.ExecuteContext(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one naming %s", err, tc.want)
			}
		})
	}
}

// TestWeftdSignsThroughCertManager runs weftd with --certificate-provider=
// cert-manager against a real API server with cert-manager's CRDs. No
// cert-manager controller runs here: cmtest.Sign stands in for cert-manager's
// CA issuer, signing weftd's CertificateRequests with a test CA. weftd serves
// ADS and its webhooks with a certificate of that CA, writes it into the
// webhook configuration's caBundle, authenticates a proxy holding a
// certificate of that CA, and keeps no root Secret of its own. weftd runs as
// its service account with the chart's RBAC, so the rules are
// checked too.
func TestWeftdSignsThroughCertManager(t *testing.T) {
	env := testenv.Start(t)
	cmtest.InstallCRDs(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env.ApplyFiles(t, "examples/osm-system-namespace.yaml", "examples/meshconfig.yaml")
	applyChartRBAC(t, env)
	if err := env.Client.Create(ctx, inertValidatingWebhook()); err != nil {
		t.Fatal(err)
	}
	cm, err := cmclient.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	issuer := &cmapi.Issuer{ObjectMeta: metav1.ObjectMeta{Name: "mesh-ca", Namespace: "osm-system"},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: "mesh-ca"}}}}
	if _, err := cm.CertmanagerV1().Issuers("osm-system").Create(ctx, issuer, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testCA, err := internalca.NewRoot("cert-manager test CA", 365*24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan *cmapi.CertificateRequest, 100)
	cmtest.Sign(ctx, t, cm, "osm-system", testCA, seen)

	o := clusterOptions(t, impersonating(t, env.KubeconfigPath, "system:serviceaccount:osm-system:weftd"))
	o.certProvider = providerCertManager
	o.certManager = certManagerOptions{issuerName: "mesh-ca", issuerKind: "Issuer", issuerGroup: "cert-manager.io"}
	logs, err := os.Create(filepath.Join(t.TempDir(), "weftd.log"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- run(ctx, slog.New(slog.NewTextHandler(logs, nil)), o) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("weftd: %v", err)
		}
		if t.Failed() {
			out, _ := os.ReadFile(logs.Name())
			t.Logf("weftd's logs:\n%s", out)
		}
	})

	testRoots := x509.NewCertPool()
	testRoots.AddCert(testCA.Signing.Cert)
	proxyCA, err := ca.NewManager(ca.Options{Signer: internalca.New(testCA, nil), TrustDomain: identity.DefaultTrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	proxy := ca.Proxy{ID: uuid.NewString(), Kind: ca.ProxySidecar, Identity: identity.Identity{Namespace: "bookstore", ServiceAccount: "bookstore"}}
	proxyCert, err := proxyCA.ProxyCertificate(ctx, proxy)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(proxyCert.CertChainPEM, proxyCert.PrivateKeyPEM)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("ADS and the webhooks serve a certificate of the issuer's CA", func(t *testing.T) {
		for _, port := range []int{o.xdsPort, o.webhookPort} {
			testenv.Eventually(t, "weftd serves on port "+strconv.Itoa(port)+" with a certificate of the test CA", func() bool {
				conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{
					Certificates: []tls.Certificate{pair}, RootCAs: testRoots, ServerName: adstest.ServerName, MinVersion: tls.VersionTLS12,
				})
				if err != nil {
					return false
				}
				conn.Close()
				return true
			})
		}
	})

	t.Run("a proxy with a certificate of the issuer's CA receives its clusters", func(t *testing.T) {
		// Proxies are refused until the first model is built.
		testenv.Eventually(t, "weftd builds the first mesh model", func() bool {
			_, err := httpGet("http://" + o.debugAddr + "/debug/problems")
			return err == nil
		})
		stream := adstest.Dial(t, ctx, net.JoinHostPort("127.0.0.1", strconv.Itoa(o.xdsPort)), pair, testRoots, proxy.CommonName(identity.DefaultTrustDomain))
		stream.Await(t, resource.ClusterType, nil, func(*discovery.DiscoveryResponse) bool { return true })
	})

	t.Run("the webhook configuration trusts the CA cert-manager reported", func(t *testing.T) {
		want := string(ca.EncodeCertificatesPEM(testCA.Signing.Cert))
		testenv.Eventually(t, "the caBundle is the test CA", func() bool {
			var v admissionregistrationv1.ValidatingWebhookConfiguration
			return env.Client.Get(ctx, client.ObjectKey{Name: mesh.ValidatingWebhookName("osm")}, &v) == nil &&
				string(v.Webhooks[0].ClientConfig.CABundle) == want
		})
	})

	t.Run("every certificate came from a CertificateRequest against the Issuer, each deleted once read", func(t *testing.T) {
		select {
		case cr := <-seen:
			if ref := cr.Spec.IssuerRef; ref.Name != "mesh-ca" || ref.Kind != "Issuer" || ref.Group != "cert-manager.io" {
				t.Errorf("issuerRef %+v", ref)
			}
		default:
			t.Fatal("weftd made no CertificateRequest")
		}
		testenv.Eventually(t, "no CertificateRequest is left", func() bool {
			list, err := cm.CertmanagerV1().CertificateRequests("osm-system").List(ctx, metav1.ListOptions{})
			return err == nil && len(list.Items) == 0
		})
	})

	t.Run("weftd creates no root Secret", func(t *testing.T) {
		var s corev1.Secret
		if err := env.Client.Get(ctx, client.ObjectKey{Namespace: "osm-system", Name: "osm-ca-bundle"}, &s); !apierrors.IsNotFound(err) {
			t.Errorf("get osm-ca-bundle: %v, want not found", err)
		}
		var roots corev1.SecretList
		if err := env.Client.List(ctx, &roots, client.InNamespace("osm-system"), client.MatchingLabels{"app.kubernetes.io/component": "ca-root"}); err != nil || len(roots.Items) != 0 {
			t.Errorf("%d root Secrets (%v), want none", len(roots.Items), err)
		}
	})

	t.Run("nothing weftd did was forbidden by its RBAC", func(t *testing.T) {
		out, err := os.ReadFile(logs.Name())
		if err != nil || strings.Contains(string(out), "forbidden") {
			t.Errorf("weftd's logs (%v) say forbidden:\n%s", err, out)
		}
	})

	t.Run("a trust bundle is read from the Secret or ConfigMap key it names", func(t *testing.T) {
		pemRoots := ca.EncodeCertificatesPEM(testCA.Signing.Cert)
		objs := []client.Object{
			&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "mesh-roots", Namespace: "osm-system"}, Data: map[string][]byte{"ca.crt": pemRoots}},
			&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "mesh-roots", Namespace: "osm-system"}, Data: map[string]string{"roots.pem": string(pemRoots), "junk": "x"}},
		}
		for _, obj := range objs {
			if err := env.Client.Create(ctx, obj); err != nil {
				t.Fatal(err)
			}
		}
		for _, ref := range []string{"Secret/mesh-roots/ca.crt", "ConfigMap/mesh-roots/roots.pem"} {
			if got, err := loadTrustBundle(ctx, env.Client, "osm-system", ref); err != nil || string(got) != string(pemRoots) {
				t.Errorf("%s: %q, %v", ref, got, err)
			}
		}
		for ref, want := range map[string]string{
			"Secret/mesh-roots/tls.crt":   `has no key "tls.crt"`,
			"ConfigMap/mesh-roots/junk":   `key "junk"`,
			"Secret/osm-ca-bundle/ca.crt": "not found",
		} {
			if _, err := loadTrustBundle(ctx, env.Client, "osm-system", ref); err == nil || !strings.Contains(err.Error(), want) ||
				!strings.Contains(err.Error(), "--"+flagCMTrustBundle) {
				t.Errorf("%s: error %v, want one naming --%s and %s", ref, err, flagCMTrustBundle, want)
			}
		}
	})
}

// TestCertManagerReplicasEachSign runs two weftd replicas with cert-manager
// (cmtest.Sign standing in for it, as above): no step is the leader's, so
// each replica signs its own serving certificate through a CertificateRequest
// while only one holds the Lease, none creates a root Secret, and after the
// leader stops the other still serves and writes the caBundle.
func TestCertManagerReplicasEachSign(t *testing.T) {
	env := testenv.Start(t)
	cmtest.InstallCRDs(t, env)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env.ApplyFiles(t, "examples/osm-system-namespace.yaml", "examples/meshconfig.yaml")
	applyChartRBAC(t, env)
	validator := inertValidatingWebhook()
	if err := env.Client.Create(ctx, validator); err != nil {
		t.Fatal(err)
	}
	cm, err := cmclient.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	issuer := &cmapi.ClusterIssuer{ObjectMeta: metav1.ObjectMeta{Name: "mesh-ca"},
		Spec: cmapi.IssuerSpec{IssuerConfig: cmapi.IssuerConfig{CA: &cmapi.CAIssuer{SecretName: "mesh-ca"}}}}
	if _, err := cm.CertmanagerV1().ClusterIssuers().Create(ctx, issuer, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	testCA, err := internalca.NewRoot("cert-manager test CA", 365*24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan *cmapi.CertificateRequest, 200)
	cmtest.Sign(ctx, t, cm, "osm-system", testCA, seen)
	testRoots := x509.NewCertPool()
	testRoots.AddCert(testCA.Signing.Cert)

	kubeconfig := impersonating(t, env.KubeconfigPath, "system:serviceaccount:osm-system:weftd")
	replicas := map[string]*replica{}
	for _, id := range []string{"weftd-a", "weftd-b"} {
		replicas[id] = startReplica(t, kubeconfig, id, func(o *options) {
			o.certProvider = providerCertManager
			o.certManager = certManagerOptions{issuerName: "mesh-ca", issuerKind: "ClusterIssuer", issuerGroup: "cert-manager.io"}
		})
	}
	serves := func(t *testing.T, r *replica) {
		t.Helper()
		for _, port := range []int{r.o.xdsPort, r.o.webhookPort} {
			testenv.Eventually(t, r.o.leaderID+" serves on port "+strconv.Itoa(port)+" with a certificate of the test CA", func() bool {
				conn, err := tls.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), &tls.Config{
					RootCAs: testRoots, ServerName: adstest.ServerName, MinVersion: tls.VersionTLS12,
				})
				if err != nil {
					return false
				}
				conn.Close()
				return true
			})
		}
	}
	for _, r := range replicas {
		serves(t, r)
	}

	// Each replica's serving certificate came from a request of its own.
	servingRequests := 0
	testenv.Eventually(t, "a CertificateRequest for each replica's serving certificate", func() bool {
		select {
		case cr := <-seen:
			if strings.HasPrefix(cr.Annotations["weft.io/common-name"], "weftd.") {
				servingRequests++
			}
		default:
		}
		return servingRequests >= 2
	})

	holder := leaseHolder(env)
	leader, follower := electedLeader(t, holder, replicas)
	want := string(ca.EncodeCertificatesPEM(testCA.Signing.Cert))
	caBundle := func() string {
		var v admissionregistrationv1.ValidatingWebhookConfiguration
		if err := env.Client.Get(ctx, client.ObjectKey{Name: mesh.ValidatingWebhookName("osm")}, &v); err != nil {
			t.Fatal(err)
		}
		return string(v.Webhooks[0].ClientConfig.CABundle)
	}
	testenv.Eventually(t, "the leader writes the caBundle", func() bool { return caBundle() == want })

	// Cleared, the caBundle stays so until the bundle changes or another
	// replica starts leading.
	if err := env.Client.Patch(ctx, validator, client.RawPatch("application/json-patch+json",
		[]byte(`[{"op":"remove","path":"/webhooks/0/clientConfig/caBundle"}]`))); err != nil {
		t.Fatal(err)
	}
	replicas[leader].stop(t)
	testenv.Eventually(t, follower+" holds the Lease", func() bool { return holder() == follower })
	testenv.Eventually(t, "the new leader writes the caBundle", func() bool { return caBundle() == want })
	serves(t, replicas[follower])

	var roots corev1.SecretList
	if err := env.Client.List(ctx, &roots, client.InNamespace("osm-system")); err != nil {
		t.Fatal(err)
	}
	for _, s := range roots.Items {
		if s.Name == "osm-ca-bundle" || s.Labels["app.kubernetes.io/component"] == "ca-root" {
			t.Errorf("a replica created the root Secret %s", s.Name)
		}
	}
}

// impersonating writes a copy of kubeconfig whose users act as user.
func impersonating(t *testing.T, kubeconfig, user string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range cfg.AuthInfos {
		a.Impersonate = user
	}
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatal(err)
	}
	return path
}

// applyChartRBAC creates weftd's ServiceAccount and RBAC as the chart
// renders them for the mesh osm in osm-system.
func applyChartRBAC(t *testing.T, env *testenv.Env) {
	t.Helper()
	c, err := manifests.Chart()
	if err != nil {
		t.Fatal(err)
	}
	objs, err := manifests.Render(c, nil, "osm-system")
	if err != nil {
		t.Fatal(err)
	}
	for _, obj := range objs {
		switch obj.GetKind() {
		case "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding":
			if err := env.Client.Create(context.Background(), obj); err != nil {
				t.Fatalf("%s %s: %v", obj.GetKind(), obj.GetName(), err)
			}
		}
	}
}
