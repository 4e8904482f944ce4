package redirect

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestRulesRedirectInANetworkNamespace applies the rules generated for a pod in
// a network namespace the test creates, wired by a veth pair to a second
// namespace that plays the rest of the network, and shows where real TCP
// connections land. Addresses are private, but no packet leaves the two
// namespaces.
//
// It runs once per backend: weft-init's nftables backend, and iptables-restore
// (weft-init --backend=iptables and OSM's init image).
func TestRulesRedirectInANetworkNamespace(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			requireNetworkNamespaces(t, b.tools...)
			testRedirection(t, b.apply)
		})
	}
}

var backends = []struct {
	name  string
	tools []string
	apply func(Config) error
}{
	{name: "nftables", apply: ApplyNftables},
	{name: "iptables", tools: []string{"iptables-restore", "iptables"}, apply: func(c Config) error { return Apply(context.Background(), Rules(c)) }},
}

func testRedirection(t *testing.T, apply func(Config) error) {
	cfg, err := ForPod(MeshDefaults{InboundPortExclusions: []int{9000}, InterfaceExclusions: []string{"wx+"}}, map[string]string{
		"openservicemesh.io/outbound-port-exclusion-list":     "6379",
		"openservicemesh.io/outbound-ip-range-exclusion-list": "10.250.1.0/24",
	})
	if err != nil {
		t.Fatal(err)
	}

	pod, network := newNamespace(t, "pod"), newNamespace(t, "net")
	link(t, "wa", pod, "10.250.0.2/24", network, "10.250.0.1/24")
	// A second interface, excluded by the wildcard wx+.
	link(t, "wx", pod, "10.250.3.2/24", network, "10.250.3.1/24")
	run(t, network, "ip", "addr", "add", "10.250.1.1/24", "dev", "lo")
	run(t, pod, "ip", "route", "add", "default", "via", "10.250.0.1")
	pod.Do(t, func() error { return apply(cfg) })

	// A second pod redirects only what its inclusion list names.
	included, err := ForPod(MeshDefaults{}, map[string]string{"openservicemesh.io/outbound-ip-range-inclusion-list": "10.250.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	pod2 := newNamespace(t, "pod2")
	link(t, "wa", pod2, "10.250.2.2/24", network, "10.250.2.1/24")
	run(t, pod2, "ip", "route", "add", "default", "via", "10.250.2.1")
	pod2.Do(t, func() error { return apply(included) })

	landed := make(chan arrival, 16)
	for _, l := range []struct {
		ns   *netns
		name string
		addr string
	}{
		{pod, "outbound listener", fmt.Sprintf("0.0.0.0:%d", OutboundPort)},
		{pod2, "outbound listener of pod2", fmt.Sprintf("0.0.0.0:%d", OutboundPort)},
		{pod, "inbound listener", fmt.Sprintf("0.0.0.0:%d", InboundPort)},
		{pod, "app", "0.0.0.0:8080"},
		{pod, "app", "0.0.0.0:9000"},
		{network, "remote", "0.0.0.0:80"},
		{network, "remote", "0.0.0.0:6379"},
	} {
		listen(t, l.ns, l.name, l.addr, landed)
	}

	tests := []struct {
		name    string
		from    *netns
		uid     int
		to      string
		wantAt  string
		wantDst string // original destination the listener recovers; "" when not redirected
	}{
		{name: "the app's outbound connection lands on the outbound listener with its original destination", from: pod, to: "10.250.0.1:80", wantAt: "outbound listener", wantDst: "10.250.0.1:80"},
		{name: "the proxy's own connection (UID 1500) is not redirected", from: pod, uid: ProxyUID, to: "10.250.0.1:80", wantAt: "remote"},
		{name: "an excluded outbound port is not redirected", from: pod, to: "10.250.0.1:6379", wantAt: "remote"},
		{name: "an excluded outbound IP range is not redirected", from: pod, to: "10.250.1.1:80", wantAt: "remote"},
		{name: "loopback is not redirected", from: pod, to: "127.0.0.1:8080", wantAt: "app"},
		{name: "with an inclusion list, a destination inside it is redirected", from: pod2, to: "10.250.1.1:80", wantAt: "outbound listener of pod2", wantDst: "10.250.1.1:80"},
		{name: "with an inclusion list, a destination outside it is not redirected", from: pod2, to: "10.250.0.1:80", wantAt: "remote"},
		{name: "an inbound connection to the app's port lands on the inbound listener", from: network, to: "10.250.0.2:8080", wantAt: "inbound listener", wantDst: "10.250.0.2:8080"},
		{name: "an excluded inbound port reaches the app directly", from: network, to: "10.250.0.2:9000", wantAt: "app"},
		{name: "outbound through an excluded interface is not redirected", from: pod, to: "10.250.3.1:80", wantAt: "remote"},
		{name: "inbound through an excluded interface reaches the app directly", from: network, to: "10.250.3.2:8080", wantAt: "app"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			token := randomName()
			dial(t, tt.from, tt.uid, tt.to, token)
			select {
			case a := <-landed:
				if a.token != token {
					t.Fatalf("an unexpected connection landed on %s", a.listener)
				}
				if a.listener != tt.wantAt {
					t.Errorf("landed on %s, want %s", a.listener, tt.wantAt)
				}
				if tt.wantDst != "" && a.originalDst != tt.wantDst {
					t.Errorf("original destination %q, want %q", a.originalDst, tt.wantDst)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("the connection landed nowhere")
			}
		})
	}
}

type arrival struct{ listener, token, originalDst string }

// listen serves in ns; each accepted connection reports the token its client
// sends and, when the rules redirected it, its original destination.
func listen(t *testing.T, ns *netns, name, addr string, landed chan<- arrival) {
	t.Helper()
	var l net.Listener
	ns.Do(t, func() (err error) { l, err = net.Listen("tcp4", addr); return err })
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
				token, _ := bufio.NewReader(conn).ReadString('\n')
				dst, _ := originalDestination(conn.(*net.TCPConn))
				if dst == conn.LocalAddr().String() {
					dst = ""
				}
				landed <- arrival{listener: name, token: strings.TrimSpace(token), originalDst: dst}
			}()
		}
	}()
}

// dial connects from ns as uid (0 means the test's own) and sends token.
func dial(t *testing.T, ns *netns, uid int, addr, token string) {
	t.Helper()
	ns.Do(t, func() error {
		if uid != 0 {
			// Only this locked thread changes its effective UID; the raw syscall
			// does not reach the process's other threads. The thread is thrown
			// away when Do returns (it stays locked).
			if _, _, errno := unix.RawSyscall(unix.SYS_SETRESUID, ^uintptr(0), uintptr(uid), ^uintptr(0)); errno != 0 {
				return fmt.Errorf("setresuid %d: %w", uid, errno)
			}
		}
		conn, err := net.DialTimeout("tcp4", addr, 3*time.Second)
		if err != nil {
			return err
		}
		defer conn.Close()
		_, err = fmt.Fprintln(conn, token)
		return err
	})
}

// originalDestination reads SO_ORIGINAL_DST, as Envoy's original_dst listener
// filter does.
func originalDestination(conn *net.TCPConn) (string, error) {
	raw, err := conn.SyscallConn()
	if err != nil {
		return "", err
	}
	var dst string
	var sockErr error
	err = raw.Control(func(fd uintptr) {
		// sockaddr_in fits in the 16-byte multiaddr of an IPv6Mreq.
		mreq, err := unix.GetsockoptIPv6Mreq(int(fd), unix.SOL_IP, unix.SO_ORIGINAL_DST)
		if err != nil {
			sockErr = err
			return
		}
		b := mreq.Multiaddr
		ip := netip.AddrFrom4([4]byte{b[4], b[5], b[6], b[7]})
		dst = netip.AddrPortFrom(ip, uint16(b[2])<<8|uint16(b[3])).String()
	})
	if err != nil {
		return "", err
	}
	return dst, sockErr
}

// netns is a network namespace the test created.
type netns struct{ name string }

func newNamespace(t *testing.T, role string) *netns {
	t.Helper()
	ns := &netns{name: "weft-" + role + "-" + randomName()}
	if out, err := exec.Command("ip", "netns", "add", ns.name).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns.name, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "netns", "del", ns.name).Run() })
	run(t, ns, "ip", "link", "set", "lo", "up")
	return ns
}

// Do runs f on an OS thread inside the namespace. Sockets f opens stay in the
// namespace; processes f starts run in it.
func (ns *netns) Do(t *testing.T, f func() error) {
	t.Helper()
	errc := make(chan error, 1)
	go func() {
		// The thread never leaves the locked state, so Go discards it afterwards
		// instead of reusing a thread in a foreign namespace.
		runtime.LockOSThread()
		fd, err := unix.Open("/run/netns/"+ns.name, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- err
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("setns %s: %w", ns.name, err)
			return
		}
		errc <- f()
	}()
	if err := <-errc; err != nil {
		t.Fatalf("in namespace %s: %v", ns.name, err)
	}
}

func run(t *testing.T, ns *netns, name string, args ...string) {
	t.Helper()
	full := append([]string{"netns", "exec", ns.name, name}, args...)
	if out, err := exec.Command("ip", full...).CombinedOutput(); err != nil {
		t.Fatalf("ip %s: %v: %s", strings.Join(full, " "), err, out)
	}
}

// link joins two namespaces with a veth pair; a's end is named prefix+random.
func link(t *testing.T, prefix string, a *netns, aAddr string, b *netns, bAddr string) {
	t.Helper()
	suffix := randomName()[:6]
	aDev, bDev := prefix+suffix, "wb"+suffix
	if out, err := exec.Command("ip", "link", "add", aDev, "netns", a.name, "type", "veth", "peer", "name", bDev, "netns", b.name).CombinedOutput(); err != nil {
		t.Fatalf("creating a veth pair: %v: %s", err, out)
	}
	run(t, a, "ip", "addr", "add", aAddr, "dev", aDev)
	run(t, a, "ip", "link", "set", aDev, "up")
	run(t, b, "ip", "addr", "add", bAddr, "dev", bDev)
	run(t, b, "ip", "link", "set", bDev, "up")
}

// requireNetworkNamespaces skips the test, saying why, where network namespaces
// cannot be made; missing tools are a failure, since `make test` installs them.
func requireNetworkNamespaces(t *testing.T, tools ...string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("network namespaces need root; run `make test` as root to test the redirection rules for real")
	}
	for _, tool := range append([]string{"ip"}, tools...) {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("%s is not installed: run hack/test-deps.sh (apt-get install iptables iproute2)", tool)
		}
	}
	probe := "weft-probe-" + randomName()
	if out, err := exec.Command("ip", "netns", "add", probe).CombinedOutput(); err != nil {
		t.Skipf("this machine cannot create network namespaces (%v: %s); the redirection rules are tested only by their golden file here", err, strings.TrimSpace(string(out)))
	}
	_ = exec.Command("ip", "netns", "del", probe).Run()
}

func randomName() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
