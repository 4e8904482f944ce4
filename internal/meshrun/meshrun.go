// Package meshrun runs a Weft mesh on this machine with no cluster: the weftd
// binary on a folder of YAML (weftd --files), and the pods of that YAML as
// local processes of demo/bookapp, each a proxyless gRPC workload on its own
// loopback address, reading the bootstrap weftd writes for it. `make demo`
// and the end-to-end tests drive it; every outcome they report is what a
// real gRPC client saw.
package meshrun

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Binaries are the programs a mesh runs.
type Binaries struct {
	Weftd, BookApp string
}

// Build builds weftd and bookapp from the module at root into dir.
func Build(ctx context.Context, root, dir string) (Binaries, error) {
	b := Binaries{Weftd: filepath.Join(dir, "weftd"), BookApp: filepath.Join(dir, "bookapp")}
	for pkg, out := range map[string]string{"./cmd/weftd": b.Weftd, "./demo/bookapp": b.BookApp} {
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, pkg)
		cmd.Dir = root
		if msg, err := cmd.CombinedOutput(); err != nil {
			return Binaries{}, fmt.Errorf("go build %s: %v\n%s", pkg, err, msg)
		}
	}
	return b, nil
}

// Mesh is weftd running on a folder of YAML.
type Mesh struct {
	bins Binaries
	// Files is the folder weftd reads; StateDir keeps its root and the pods'
	// folders.
	Files, StateDir string
	// XDSPort is weftd's ADS port; DebugAddr serves /debug.
	XDSPort   int
	DebugAddr string
	weftd     *Process

	mu    sync.Mutex
	procs []*Process
}

// Start copies the YAML files of each folder in sources into a new files
// folder under workDir and starts weftd on it. Logs go to workDir/*.log.
func Start(ctx context.Context, bins Binaries, workDir string, sources ...string) (*Mesh, error) {
	m := &Mesh{bins: bins, Files: filepath.Join(workDir, "files"), StateDir: filepath.Join(workDir, "state")}
	for _, d := range []string{m.Files, m.StateDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, err
		}
	}
	for _, src := range sources {
		if err := copyYAML(src, m.Files); err != nil {
			return nil, err
		}
	}
	var err error
	if m.XDSPort, err = freePort("127.0.0.1"); err != nil {
		return nil, err
	}
	health, err := freePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	debug, err := freePort("127.0.0.1")
	if err != nil {
		return nil, err
	}
	m.DebugAddr = "127.0.0.1:" + strconv.Itoa(debug)
	m.weftd, err = m.start(filepath.Join(workDir, "weftd.log"), nil, bins.Weftd,
		"--files", m.Files, "--state-dir", m.StateDir,
		"--xds-port", strconv.Itoa(m.XDSPort), "--health-addr", "127.0.0.1:"+strconv.Itoa(health), "--debug-addr", m.DebugAddr,
		"--coalesce-quiet", "20ms", "--coalesce-max-delay", "200ms")
	if err != nil {
		return nil, err
	}
	return m, nil
}

func copyYAML(src, dst string) error {
	entries, err := os.ReadDir(src)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() || !(strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Apply writes a file into the mesh's folder (replacing one of that name) by
// rename, as an editor saves, and returns when it was written.
func (m *Mesh) Apply(name string, content []byte) (time.Time, error) {
	tmp := filepath.Join(m.Files, "."+name+".tmp")
	if err := os.WriteFile(tmp, content, 0o644); err != nil {
		return time.Time{}, err
	}
	if err := os.Rename(tmp, filepath.Join(m.Files, name)); err != nil {
		return time.Time{}, err
	}
	return time.Now(), nil
}

// ApplyFile copies a file into the mesh's folder under its own name.
func (m *Mesh) ApplyFile(path string) (time.Time, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return time.Time{}, err
	}
	return m.Apply(filepath.Base(path), b)
}

// Delete removes a file from the mesh's folder.
func (m *Mesh) Delete(name string) (time.Time, error) {
	if err := os.Remove(filepath.Join(m.Files, name)); err != nil && !errors.Is(err, os.ErrNotExist) {
		return time.Time{}, err
	}
	return time.Now(), nil
}

// PodDir is where weftd writes the pod's bootstrap and certificates.
func (m *Mesh) PodDir(namespace, pod string) string {
	return filepath.Join(m.StateDir, "pods", namespace, pod)
}

// WaitPod waits until weftd has written the pod's bootstrap.
func (m *Mesh) WaitPod(ctx context.Context, namespace, pod string) error {
	path := filepath.Join(m.PodDir(namespace, pod), "bootstrap.json")
	for {
		if _, err := os.Stat(path); err == nil {
			return nil
		}
		if err := m.weftd.exited(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no bootstrap for pod %s/%s at %s: %w", namespace, pod, path, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// Serve starts bookapp serve as the pod (with extra flags) and waits until it
// serves: weftd sent it its listener.
func (m *Mesh) Serve(ctx context.Context, namespace, pod, name, listen string, extra ...string) (*Process, error) {
	if err := m.WaitPod(ctx, namespace, pod); err != nil {
		return nil, err
	}
	p, err := m.start(filepath.Join(filepath.Dir(m.Files), pod+".log"), m.podEnv(namespace, pod), m.bins.BookApp,
		append([]string{"serve", "--name", name, "--listen", listen}, extra...)...)
	if err != nil {
		return nil, err
	}
	if _, err := p.WaitLine(ctx, func(l string) bool { return strings.HasPrefix(l, "serving ") }); err != nil {
		return nil, fmt.Errorf("%s did not start serving: %w", pod, err)
	}
	return p, nil
}

// Caller starts bookapp call as the pod, calling target at rate a second
// until Stop. Its calls are read with Next.
func (m *Mesh) Caller(ctx context.Context, namespace, pod, target, method string, rate int) (*Process, error) {
	if err := m.WaitPod(ctx, namespace, pod); err != nil {
		return nil, err
	}
	return m.start(filepath.Join(filepath.Dir(m.Files), pod+"-calls.log"), m.podEnv(namespace, pod), m.bins.BookApp,
		"call", "--target", target, "--method", method, "--rate", strconv.Itoa(rate))
}

func (m *Mesh) podEnv(namespace, pod string) []string {
	return []string{"GRPC_XDS_BOOTSTRAP=" + filepath.Join(m.PodDir(namespace, pod), "bootstrap.json")}
}

func (m *Mesh) start(logPath string, env []string, bin string, args ...string) (*Process, error) {
	p, err := StartProcess(logPath, env, bin, args...)
	if err != nil {
		return nil, err
	}
	m.mu.Lock()
	m.procs = append(m.procs, p)
	m.mu.Unlock()
	return p, nil
}

// StartProcess runs bin with env added to this process's environment, its
// stdout read line by line (and copied with its stderr to logPath).
func StartProcess(logPath string, env []string, bin string, args ...string) (*Process, error) {
	log, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = log
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", bin, err)
	}
	p := &Process{cmd: cmd, stdin: stdin, lines: make(chan string, 100000), done: make(chan struct{}), log: log, LogPath: logPath}
	go p.read(stdout)
	go func() { p.waitErr = cmd.Wait(); close(p.done) }()
	return p, nil
}

// Stop ends every process of the mesh, weftd last.
func (m *Mesh) Stop() {
	m.mu.Lock()
	procs := m.procs
	m.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].Stop()
	}
}

// Process is a running program whose stdout is read line by line.
type Process struct {
	cmd     *exec.Cmd
	stdin   io.WriteCloser
	lines   chan string
	done    chan struct{}
	waitErr error
	log     *os.File
	// LogPath has its stderr (and its stdout, copied).
	LogPath string
}

func (p *Process) read(r io.Reader) {
	s := bufio.NewScanner(r)
	for s.Scan() {
		fmt.Fprintln(p.log, s.Text())
		p.lines <- s.Text()
	}
	close(p.lines)
}

func (p *Process) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited: %v (log: %s)", p.cmd.Path, p.waitErr, p.LogPath)
	default:
		return nil
	}
}

// Next returns the next line of output, waiting until ctx ends.
func (p *Process) Next(ctx context.Context) (string, error) {
	select {
	case l, ok := <-p.lines:
		if !ok {
			<-p.done
			return "", fmt.Errorf("%s ended: %v (log: %s)", filepath.Base(p.cmd.Path), p.waitErr, p.LogPath)
		}
		return l, nil
	case <-ctx.Done():
		return "", ctx.Err()
	}
}

// WaitLine reads lines until one satisfies ok.
func (p *Process) WaitLine(ctx context.Context, ok func(string) bool) (string, error) {
	for {
		l, err := p.Next(ctx)
		if err != nil {
			return "", err
		}
		if ok(l) {
			return l, nil
		}
	}
}

// Stop ends the process: closing stdin ends a caller, a signal a server.
func (p *Process) Stop() {
	p.stdin.Close()
	select {
	case <-p.done:
	case <-time.After(2 * time.Second):
		_ = p.cmd.Process.Signal(os.Interrupt)
		select {
		case <-p.done:
		case <-time.After(3 * time.Second):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
	p.log.Close()
}

func freePort(host string) (int, error) {
	l, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
