package proxyless_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/proxyless"
)

func pod(ns, name, sa string, annotations map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, Annotations: annotations},
		Spec:       corev1.PodSpec{ServiceAccountName: sa},
	}
}

// The writer keeps a folder for each proxyless pod, with a bootstrap naming
// its files and certificates of the pod's own identity, and removes the
// folders of pods that are gone.
func TestFileWriter(t *testing.T) {
	roots, err := internalca.NewRoot("weft test root", 24*time.Hour, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	m, err := ca.NewManager(ca.Options{Signer: internalca.New(roots, nil), TrustDomain: identity.DefaultTrustDomain})
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	w := &proxyless.FileWriter{Dir: dir, XDSServer: "localhost:15128", Certificates: m}
	grpc := map[string]string{proxyless.Annotation: proxyless.KindGRPC}
	buyer := pod("bookbuyer", "bookbuyer", "bookbuyer", grpc)
	w.SetPods([]*corev1.Pod{
		buyer,
		pod("bookstore", "sidecar", "bookstore", nil),
		pod("bookstore", "typo", "bookstore", map[string]string{proxyless.Annotation: "grcp"}),
	})
	w.Sync(context.Background())

	folder := filepath.Join(dir, "bookbuyer", "bookbuyer")
	var boot struct {
		Node struct {
			ID string `json:"id"`
		} `json:"node"`
		XDSServers []struct {
			ServerURI string `json:"server_uri"`
		} `json:"xds_servers"`
		Providers map[string]struct {
			Config map[string]string `json:"config"`
		} `json:"certificate_providers"`
	}
	b, err := os.ReadFile(filepath.Join(folder, proxyless.BootstrapFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &boot); err != nil {
		t.Fatal(err)
	}
	proxy, err := proxyless.ProxyOfPod(buyer)
	if err != nil {
		t.Fatal(err)
	}
	if boot.Node.ID != proxy.CommonName(identity.DefaultTrustDomain) || boot.XDSServers[0].ServerURI != "localhost:15128" {
		t.Errorf("bootstrap node %q server %v, want %q at localhost:15128", boot.Node.ID, boot.XDSServers, proxy.CommonName(identity.DefaultTrustDomain))
	}
	if got := boot.Providers["weft-mesh"].Config["certificate_file"]; got != filepath.Join(folder, proxyless.CertFile) {
		t.Errorf("certificate provider reads %q, want the folder's %s", got, proxyless.CertFile)
	}
	xdsCert, err := os.ReadFile(filepath.Join(folder, proxyless.XDSCertFile))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.CheckProxyCertificate(xdsCert, proxy, time.Now()); err != nil {
		t.Errorf("the xDS certificate is not the pod's proxy's: %v", err)
	}
	serviceCert, err := os.ReadFile(filepath.Join(folder, proxyless.CertFile))
	if err != nil {
		t.Fatal(err)
	}
	chain, err := ca.ParseCertificatesPEM(serviceCert)
	if err != nil {
		t.Fatal(err)
	}
	if want := "bookbuyer.bookbuyer.cluster.local"; chain[0].Subject.CommonName != want {
		t.Errorf("service certificate CN %q, want %q", chain[0].Subject.CommonName, want)
	}
	if info, err := os.Stat(filepath.Join(folder, proxyless.KeyFile)); err != nil || info.Mode().Perm()&0o077 != 0 {
		t.Errorf("key file mode: %v %v, want readable by its owner only", info.Mode(), err)
	}
	for _, name := range []string{"sidecar", "typo"} {
		if _, err := os.Stat(filepath.Join(dir, "bookstore", name)); !os.IsNotExist(err) {
			t.Errorf("a folder was written for pod bookstore/%s (%v)", name, err)
		}
	}

	again, err := proxyless.ProxyOfPod(buyer)
	if err != nil || again != proxy {
		t.Errorf("the proxy of a pod without a UID changed: %v then %v (%v)", proxy, again, err)
	}

	w.SetPods(nil)
	w.Sync(context.Background())
	if _, err := os.Stat(filepath.Join(dir, "bookbuyer")); !os.IsNotExist(err) {
		t.Errorf("the folder of a gone pod is still there (%v)", err)
	}
}
