package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/pkg/identity"
)

// weftd is the control plane under test, a separate process.
type weftd struct {
	cmd        *exec.Cmd
	done       chan error
	xdsAddr    string
	healthAddr string
	logPath    string
}

// buildWeftd builds ./cmd/weftd into dir.
func buildWeftd(ctx context.Context, root, dir string) (string, error) {
	out := filepath.Join(dir, "weftd")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./cmd/weftd")
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/weftd: %v\n%s", err, b)
	}
	return out, nil
}

// startWeftd runs bin against the cluster with the webhooks and leader
// election off (nothing calls them; one replica), pinned to cpu when it is
// not negative.
func startWeftd(bin, kubeconfig, dir string, cpu int, extra []string) (*weftd, error) {
	ports, err := freePorts(3)
	if err != nil {
		return nil, err
	}
	w := &weftd{
		xdsAddr:    "127.0.0.1:" + strconv.Itoa(ports[0]),
		healthAddr: "127.0.0.1:" + strconv.Itoa(ports[1]),
		logPath:    filepath.Join(dir, "weftd.log"),
		done:       make(chan error, 1),
	}
	args := append([]string{
		"--kubeconfig", kubeconfig,
		"--enable-webhooks=false", "--enable-injector=false", "--leader-elect=false",
		"--xds-port", strconv.Itoa(ports[0]),
		"--health-addr", w.healthAddr,
		"--debug-addr", "127.0.0.1:" + strconv.Itoa(ports[2]),
	}, extra...)
	name := bin
	if cpu >= 0 {
		args = append([]string{"-c", strconv.Itoa(cpu), bin}, args...)
		name = "taskset"
	}
	logs, err := os.Create(w.logPath)
	if err != nil {
		return nil, err
	}
	w.cmd = exec.Command(name, args...)
	w.cmd.Stdout, w.cmd.Stderr = logs, logs
	if err := w.cmd.Start(); err != nil {
		logs.Close()
		return nil, err
	}
	go func() { w.done <- w.cmd.Wait(); logs.Close() }()
	return w, nil
}

// pid is weftd's own: taskset execs it in place.
func (w *weftd) pid() int { return w.cmd.Process.Pid }

func (w *weftd) stop() {
	_ = w.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-w.done:
	case <-time.After(10 * time.Second):
		_ = w.cmd.Process.Kill()
		<-w.done
	}
}

// alive fails once weftd has exited.
func (w *weftd) alive() error {
	select {
	case err := <-w.done:
		w.done <- err
		return fmt.Errorf("weftd exited (%v); its log: %s", err, w.logPath)
	default:
		return nil
	}
}

// rootManager waits for the mesh root weftd keeps in its Secret and returns a
// CA that signs with it, as weftd's injector would for a pod.
func rootManager(ctx context.Context, c client.Client, w *weftd) (*ca.Manager, error) {
	var secret corev1.Secret
	for {
		err := c.Get(ctx, client.ObjectKey{Namespace: meshNamespace, Name: "osm-ca-bundle"}, &secret)
		if err == nil {
			break
		}
		if err := w.alive(); err != nil {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	roots, err := internalca.ParseRootSet(secret.Data[internalca.KeyCert], secret.Data[internalca.KeyKey], secret.Data[internalca.KeyBundle], time.Now())
	if err != nil {
		return nil, err
	}
	return ca.NewManager(ca.Options{Signer: internalca.New(roots, nil), TrustDomain: identity.DefaultTrustDomain})
}

// connectedProxies reads weft_xds_connected_proxies from weftd's metrics.
func (w *weftd) connectedProxies() (int, error) {
	resp, err := http.Get("http://" + w.healthAddr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "weft_xds_connected_proxies "); ok {
			f, err := strconv.ParseFloat(v, 64)
			return int(f), err
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, errors.New("no weft_xds_connected_proxies in weftd's metrics")
}

// procStatus reads a kB field (VmRSS, VmHWM) of /proc/<pid>/status, in MB.
func procStatus(pid int, field string) (float64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			return kb / 1024, err
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// resetPeakRSS makes VmHWM start again from the current RSS.
func resetPeakRSS(pid int) error {
	return os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// clockTicks is USER_HZ, 100 on every Linux this runs on.
const clockTicks = 100

// cpuSeconds is the user and system CPU time of a process, from
// /proc/<pid>/stat (0: this one).
func cpuSeconds(pid int) (float64, error) {
	path := "/proc/self/stat"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/stat", pid)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	// The command name may hold spaces: fields count from its closing paren.
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(fields) < 13 {
		return 0, fmt.Errorf("%s: too few fields", path)
	}
	utime, err1 := strconv.ParseFloat(fields[11], 64)
	stime, err2 := strconv.ParseFloat(fields[12], 64)
	return (utime + stime) / clockTicks, errors.Join(err1, err2)
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

// backlogDrops is how many packets the kernel dropped because a CPU's input
// backlog was full (the second column of /proc/net/softnet_stat, summed).
// Every connection of the run is on loopback, whose packets queue there: a
// burst larger than net.core.netdev_max_backlog is dropped and retransmitted.
func backlogDrops() (uint64, error) {
	b, err := os.ReadFile("/proc/net/softnet_stat")
	if err != nil {
		return 0, err
	}
	var sum uint64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, err := strconv.ParseUint(f[1], 16, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/net/softnet_stat: %w", err)
		}
		sum += n
	}
	return sum, nil
}
