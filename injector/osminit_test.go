package injector_test

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/injector/redirect"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// A MeshConfig carried over from OSM names OSM's init image, which has no
// weft-init: the init container then runs the same rules through the image's
// shell and iptables-restore. Run for real in a network namespace, its
// command installs exactly the rules weft-init installs.
func TestOSMInitImageInstallsTheSameRules(t *testing.T) {
	mc := &configv1alpha2.MeshConfig{}
	mc.Spec.Sidecar.InitContainerImage = "openservicemesh/init:v1.2.0"
	mc.Spec.Traffic.OutboundPortExclusionList = []configv1alpha2.Port{6379}
	mc.Spec.Traffic.OutboundIPRangeExclusionList = []string{"169.254.169.254/32"}
	pod, err := injector.Inject(appPod("bookbuyer"), injector.Injection{ProxyID: testProxyID, MeshConfig: mc})
	if err != nil {
		t.Fatal(err)
	}
	initc := pod.Spec.InitContainers[len(pod.Spec.InitContainers)-1]
	if initc.Image != "openservicemesh/init:v1.2.0" || len(initc.Command) != 1 || initc.Command[0] != "/bin/sh" || len(initc.Args) != 2 {
		t.Fatalf("init container: image %s, command %v, args %d; want OSM's image running /bin/sh -c <script>", initc.Image, initc.Command, len(initc.Args))
	}
	for _, image := range []string{"ghcr.io/weft-mesh/weft-init:latest", "example.com/openservicemesh/init-fork:v1"} {
		mc.Spec.Sidecar.InitContainerImage = image
		other, err := injector.Inject(appPod("bookbuyer"), injector.Injection{ProxyID: testProxyID, MeshConfig: mc})
		if err != nil {
			t.Fatal(err)
		}
		if c := other.Spec.InitContainers[len(other.Spec.InitContainers)-1]; c.Command[0] != "weft-init" {
			t.Errorf("image %s runs %v, want weft-init", image, c.Command)
		}
	}

	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root; run `make test` as root to run the script for real")
	}
	for _, tool := range []string{"ip", "iptables-restore", "iptables-save", "sh"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run hack/test-deps.sh", tool)
		}
	}
	installed := func(install func(ns string) error) string {
		b := make([]byte, 4)
		_, _ = rand.Read(b)
		ns := "weft-osminit-" + hex.EncodeToString(b)
		if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
			t.Skipf("this machine cannot create network namespaces (%v: %s)", err, strings.TrimSpace(string(out)))
		}
		defer func() { _ = exec.Command("ip", "netns", "del", ns).Run() }()
		if err := install(ns); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command("ip", "netns", "exec", ns, "iptables-save", "-t", "nat").CombinedOutput()
		if err != nil {
			t.Fatalf("iptables-save: %v: %s", err, out)
		}
		var rules []string
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "-A") || strings.HasPrefix(l, ":PROXY") {
				rules = append(rules, l)
			}
		}
		return strings.Join(rules, "\n")
	}
	script := installed(func(ns string) error {
		out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, append(initc.Command, initc.Args...)...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("the init container's command: %v: %s", err, out)
		}
		return nil
	})
	cfg, err := redirect.ForPod(redirect.MeshDefaults{OutboundPortExclusions: []int{6379}, OutboundIPRangeExclusions: []string{"169.254.169.254/32"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	direct := installed(func(ns string) error {
		cmd := exec.Command("ip", "netns", "exec", ns, "iptables-restore", "--noflush")
		cmd.Stdin = strings.NewReader(redirect.Rules(cfg))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("iptables-restore: %v: %s", err, out)
		}
		return nil
	})
	if script == "" || script != direct {
		t.Errorf("the OSM image's script installed:\n%s\nweft-init's rules are:\n%s", script, direct)
	}
}
