package images

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/google/nftables/expr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/injector/redirect"
	"github.com/weft-mesh/weft/internal/testenv"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// TestWeftInitImageInstallsTheRules unpacks the weft-init image and runs its
// entrypoint, chrooted into the image, with the arguments the injector gives
// the init container, in a fresh network namespace; then lists the rules it
// installed there.
func TestWeftInitImageInstallsTheRules(t *testing.T) {
	requireRoot(t)
	root := unpackRootfs(t, archiveImage(t, "weft-init"))
	initc := injectedInitContainer(t)
	// The injector's command replaces the image's entrypoint: found by the
	// image's PATH, it must be the entrypoint.
	if len(initc.Command) != 1 {
		t.Fatalf("init container command %v", initc.Command)
	}
	if p, ok := root.lookPath(initc.Command[0]); !ok || p != root.config.Entrypoint[0] {
		t.Fatalf("the init container's command %q resolves in the image to %q, want the entrypoint %s", initc.Command[0], p, root.config.Entrypoint[0])
	}
	cfg, err := redirect.ParseArgs(initc.Args)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("init container: %s %s", initc.Command[0], strings.Join(initc.Args, " "))

	// The image holds weft-init and nothing else: its default backend talks
	// netlink, so no other binary is needed.
	t.Run("the default nftables backend installs the rules with nothing but the image", func(t *testing.T) {
		ns := newNetNS(t)
		out, err := ns.run(root.command(t, initc.Args...))
		if err != nil {
			t.Fatalf("weft-init in the image: %v\n%s", err, out)
		}
		if !strings.Contains(out, "installed redirection rules (nftables)") {
			t.Errorf("weft-init printed:\n%s", out)
		}
		checkNftables(t, ns, cfg)
	})

	// --backend=iptables runs iptables-restore, which this image lacks; it is
	// for images that add iptables. Run in the image, it must then fail on the
	// missing binary, which also shows the chroot keeps the host's out of reach.
	t.Run("the iptables backend needs iptables-restore in the image", func(t *testing.T) {
		ns := newNetNS(t)
		args := append([]string{"--backend=iptables"}, initc.Args...)
		out, err := ns.run(root.command(t, args...))
		if _, ok := root.lookPath("iptables-restore"); !ok {
			if err == nil || !strings.Contains(out, "iptables-restore") {
				t.Fatalf("without iptables-restore in the image, --backend=iptables returned %v:\n%s", err, out)
			}
			t.Logf("the image has no iptables-restore: --backend=iptables fails as it should: %s", strings.TrimSpace(out))
			return
		}
		if err != nil {
			t.Fatalf("weft-init --backend=iptables in the image: %v\n%s", err, out)
		}
		if _, err := exec.LookPath("iptables-save"); err != nil {
			t.Skip("iptables-save is not installed on the host: the rules are not listed (run hack/test-deps.sh)")
		}
		saved, err := ns.run(exec.Command("iptables-save", "-t", "nat"))
		if err != nil {
			t.Fatalf("iptables-save: %v\n%s", err, saved)
		}
		for _, port := range []int{redirect.OutboundPort, redirect.InboundPort} {
			if !strings.Contains(saved, fmt.Sprintf("-j REDIRECT --to-ports %d", port)) {
				t.Errorf("no redirect to %d in:\n%s", port, saved)
			}
		}
	})
}

// injectedInitContainer is the init container the injector adds to a pod with
// examples/meshconfig.yaml, given exclusions by the MeshConfig and the pod's
// annotations so that every flag is exercised.
func injectedInitContainer(t *testing.T) corev1.Container {
	t.Helper()
	objs, err := k8s.DecodeYAMLFile("../../examples/meshconfig.yaml")
	if err != nil || len(objs) != 1 {
		t.Fatalf("examples/meshconfig.yaml: %d objects, %v", len(objs), err)
	}
	var mc configv1alpha2.MeshConfig
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(objs[0].Object, &mc); err != nil {
		t.Fatal(err)
	}
	if mc.Spec.Sidecar.InitContainerImage != injector.DefaultInitContainerImage {
		t.Fatalf("examples/meshconfig.yaml names init image %s, this test runs %s", mc.Spec.Sidecar.InitContainerImage, injector.DefaultInitContainerImage)
	}
	mc.Spec.Traffic.OutboundPortExclusionList = []configv1alpha2.Port{6379}
	mc.Spec.Traffic.InboundPortExclusionList = []configv1alpha2.Port{9000}
	mc.Spec.Traffic.OutboundIPRangeExclusionList = []string{"169.254.169.254/32"}
	mc.Spec.Traffic.NetworkInterfaceExclusionList = []string{"veth+"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "bookbuyer", Namespace: "bookbuyer", Annotations: map[string]string{
			"openservicemesh.io/outbound-ip-range-inclusion-list": "10.96.0.0/12",
		}},
		Spec: corev1.PodSpec{ServiceAccountName: "bookbuyer", Containers: []corev1.Container{{Name: "bookbuyer", Image: "example.com/bookbuyer:v1"}}},
	}
	out, err := injector.Inject(pod, injector.Injection{ProxyID: "0b4a6f2e-8c1d-4e5f-9a7b-3c2d1e0f9a8b", MeshConfig: &mc})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range out.Spec.InitContainers {
		if c.Name == injector.InitContainerName {
			if c.Image != injector.DefaultInitContainerImage {
				t.Fatalf("init container image %s", c.Image)
			}
			return c
		}
	}
	t.Fatalf("no %s init container", injector.InitContainerName)
	return corev1.Container{}
}

// run runs cmd in the namespace and returns its output.
func (ns *netNS) run(cmd *exec.Cmd) (string, error) {
	var out []byte
	err := ns.Do(func() (err error) {
		out, err = cmd.CombinedOutput()
		return err
	})
	return string(out), err
}

// checkNftables lists the namespace's nftables ruleset over netlink: Weft's
// table alone, holding cfg's rules, with the redirects to the sidecar's ports;
// and, when nft is installed, compares `nft list ruleset` with the rules.
func checkNftables(t *testing.T, ns *netNS, cfg redirect.Config) {
	t.Helper()
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns.f.Fd())))
	if err != nil {
		t.Fatal(err)
	}
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	if len(tables) != 1 || tables[0].Name != redirect.NftablesTable || tables[0].Family != nftables.TableFamilyIPv4 {
		t.Fatalf("tables %+v, want ip %s alone", tables, redirect.NftablesTable)
	}
	chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
	if err != nil {
		t.Fatal(err)
	}
	redirects := map[string]int{}
	rules := 0
	for _, chain := range chains {
		rs, err := conn.GetRules(chain.Table, chain)
		if err != nil {
			t.Fatal(err)
		}
		rules += len(rs)
		for _, r := range rs {
			if port, ok := redirectPort(r.Exprs); ok {
				redirects[chain.Name] = port
			}
		}
	}
	want := map[string]int{"PROXY_REDIRECT": redirect.OutboundPort, "PROXY_IN_REDIRECT": redirect.InboundPort}
	if fmt.Sprint(redirects) != fmt.Sprint(want) {
		t.Errorf("redirects by chain %v, want %v", redirects, want)
	}
	text := redirect.NftablesRules(cfg)
	if wantRules := strings.Count(text, "\n\t\t") - strings.Count(text, "\n\t\ttype "); rules != wantRules {
		t.Errorf("%d rules installed, want %d:\n%s", rules, wantRules, text)
	}
	t.Logf("table ip %s: %d chains, %d rules, redirects %v", redirect.NftablesTable, len(chains), rules, redirects)

	if _, err := exec.LookPath("nft"); err != nil {
		t.Log("nft is not installed: the ruleset is not compared with `nft list ruleset` (run hack/test-deps.sh)")
		return
	}
	got, err := ns.run(exec.Command("nft", "list", "ruleset"))
	if err != nil {
		t.Fatalf("nft list ruleset: %v\n%s", err, got)
	}
	if got != text {
		t.Errorf("nft list ruleset:\n%s\nwant:\n%s", got, text)
	}
}

// redirectPort finds `redirect to :port`: the port loaded into the register
// the redir expression reads.
func redirectPort(exprs []expr.Any) (int, bool) {
	for i, e := range exprs {
		r, ok := e.(*expr.Redir)
		if !ok {
			continue
		}
		for _, prev := range exprs[:i] {
			if imm, ok := prev.(*expr.Immediate); ok && imm.Register == r.RegisterProtoMin && len(imm.Data) == 2 {
				return int(binary.BigEndian.Uint16(imm.Data)), true
			}
		}
	}
	return 0, false
}

// TestWeftdImageRunsAgainstAnAPIServer unpacks the weftd image and runs its
// entrypoint against a real API server: it creates the mesh root Secret and
// reports ready, and stops cleanly on SIGTERM.
func TestWeftdImageRunsAgainstAnAPIServer(t *testing.T) {
	root := unpackRootfs(t, archiveImage(t, "weftd"))
	env := testenv.Start(t)
	env.ApplyFiles(t, "examples/osm-system-namespace.yaml", "examples/meshconfig.yaml")

	// The kubeconfig (certificates inline) goes into the image's filesystem,
	// as a mounted Secret would, readable by the image's user; without root
	// there is no chroot, and the binary reads it where it is.
	kubeconfig := env.KubeconfigPath
	if os.Geteuid() == 0 {
		data, err := os.ReadFile(env.KubeconfigPath)
		if err != nil {
			t.Fatal(err)
		}
		kubeconfig = "/kubeconfig"
		inImage := filepath.Join(root.dir, kubeconfig)
		if err := os.WriteFile(inImage, data, 0o600); err != nil {
			t.Fatal(err)
		}
		uid, gid := root.user(t)
		if err := os.Chown(inImage, int(uid), int(gid)); err != nil {
			t.Fatal(err)
		}
	}
	ports := testenv.FreePorts(t, "127.0.0.1", 4)
	health := "127.0.0.1:" + strconv.Itoa(ports[0])
	cmd := root.command(t,
		"--kubeconfig="+kubeconfig,
		"--mesh-name="+mesh.DefaultName, "--mesh-namespace="+mesh.DefaultNamespace,
		"--health-addr="+health,
		"--debug-addr=127.0.0.1:"+strconv.Itoa(ports[1]),
		"--xds-port="+strconv.Itoa(ports[2]),
		"--webhook-port="+strconv.Itoa(ports[3]),
	)
	logs, err := os.Create(filepath.Join(t.TempDir(), "weftd.log"))
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close()
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting weftd from the image: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	stop := func() error {
		stopped = true
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			return err
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
			return fmt.Errorf("weftd did not stop within 20s of SIGTERM")
		}
	}
	// Runs before the API server stops (registered after testenv.Start).
	t.Cleanup(func() {
		if !stopped {
			_ = stop()
		}
		if t.Failed() {
			out, _ := os.ReadFile(logs.Name())
			t.Logf("weftd's output:\n%s", out)
		}
	})

	start := time.Now()
	ready := func(what, url string) func() bool {
		return func() bool {
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("weftd exited while waiting for %s: %v", what, err)
			default:
			}
			resp, err := http.Get(url)
			if err != nil {
				return false
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			return resp.StatusCode == http.StatusOK && strings.TrimSpace(string(body)) == "ok"
		}
	}
	testenv.Eventually(t, "weftd answers /healthz", ready("/healthz", "http://"+health+"/healthz"))
	testenv.Eventually(t, "weftd answers /readyz", ready("/readyz", "http://"+health+"/readyz"))
	var secrets corev1.SecretList
	testenv.Eventually(t, "weftd creates the mesh root Secret", func() bool {
		err := env.Client.List(context.Background(), &secrets, client.InNamespace(mesh.DefaultNamespace),
			client.MatchingLabels{"app.kubernetes.io/component": "ca-root"})
		return err == nil && len(secrets.Items) == 1
	})
	t.Logf("weftd from the image: ready and the root Secret %s created in %s", secrets.Items[0].Name, time.Since(start).Round(time.Millisecond))

	if err := stop(); err != nil {
		t.Errorf("weftd on SIGTERM: %v", err)
	}
}
