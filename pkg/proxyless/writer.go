package proxyless

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/utils/clock"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/internal/atomicfile"
)

// DefaultCheckInterval is how often FileWriter looks for due certificates.
const DefaultCheckInterval = time.Second

// FileWriter keeps a folder of files (Folder) for every proxyless pod it was
// last given, under Dir/<namespace>/<pod>/, and removes the folders of pods
// that are gone. A folder is rewritten when its proxy or service certificate
// is due, when the mesh roots change, and when the pod's proxy changes (a new
// service account). Files are replaced by rename, one at a time; gRPC rereads
// them on its refresh interval.
type FileWriter struct {
	// Dir holds the folders; it is the writer's alone.
	Dir string
	// XDSServer is the ADS server's host:port, written into bootstraps.
	XDSServer    string
	Certificates *ca.Manager
	// CheckInterval defaults to DefaultCheckInterval.
	CheckInterval time.Duration
	Clock         clock.WithTicker
	Logger        *slog.Logger

	mu      sync.Mutex
	pods    []*corev1.Pod
	changed chan struct{}
	written map[string]writtenFolder // by folder path
}

type writtenFolder struct {
	proxy   ca.Proxy
	service *ca.Certificate
	renewAt time.Time
	bundle  []byte
}

// SetPods gives the writer the current pods; only proxyless ones count. It
// does not block: Run writes.
func (w *FileWriter) SetPods(pods []*corev1.Pod) {
	w.mu.Lock()
	w.pods = pods
	w.mu.Unlock()
	select {
	case w.signal() <- struct{}{}:
	default:
	}
}

func (w *FileWriter) signal() chan struct{} {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.changed == nil {
		w.changed = make(chan struct{}, 1)
	}
	return w.changed
}

// Run writes the folders on every SetPods and renews them when due, until ctx
// ends.
func (w *FileWriter) Run(ctx context.Context) error {
	clk := w.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	interval := w.CheckInterval
	if interval <= 0 {
		interval = DefaultCheckInterval
	}
	ticker := clk.NewTicker(interval)
	defer ticker.Stop()
	changed := w.signal()
	for {
		w.Sync(ctx)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-changed:
		case <-ticker.C():
		}
	}
}

// Sync brings every folder up to date once.
func (w *FileWriter) Sync(ctx context.Context) {
	w.mu.Lock()
	pods := w.pods
	if w.written == nil {
		w.written = map[string]writtenFolder{}
	}
	w.mu.Unlock()
	log := w.Logger
	if log == nil {
		log = slog.Default()
	}
	keep := map[string]bool{}
	for _, pod := range pods {
		ok, err := FromPod(pod)
		if err != nil {
			log.Warn("pod not served as a proxyless workload", "error", err)
			continue
		}
		if !ok {
			continue
		}
		dir := filepath.Join(w.Dir, pod.Namespace, pod.Name)
		keep[dir] = true
		if err := w.syncFolder(ctx, pod, dir, log); err != nil {
			log.Error("writing a proxyless workload's files", "pod", pod.Namespace+"/"+pod.Name, "dir", dir, "error", err)
		}
	}
	w.removeGone(keep, log)
}

func (w *FileWriter) syncFolder(ctx context.Context, pod *corev1.Pod, dir string, log *slog.Logger) error {
	proxy, err := ProxyOfPod(pod)
	if err != nil {
		return err
	}
	service, err := w.Certificates.ServiceCertificate(ctx, proxy.Identity)
	if err != nil {
		return fmt.Errorf("service certificate of %s: %w", proxy.Identity, err)
	}
	bundle := w.Certificates.Bundle()
	now := time.Now()
	if w.Clock != nil {
		now = w.Clock.Now()
	}
	w.mu.Lock()
	last, seen := w.written[dir]
	w.mu.Unlock()
	if seen && last.proxy == proxy && last.service == service && bytes.Equal(last.bundle, bundle) && now.Before(last.renewAt) {
		return nil
	}
	proxyCert, err := w.Certificates.ProxyCertificate(ctx, proxy)
	if err != nil {
		return fmt.Errorf("proxy certificate of %s: %w", proxy, err)
	}
	// The folder is the certificate's only home: the CA keeps no copy, so
	// the next one is fresh.
	w.Certificates.ForgetProxy(proxy)
	files, err := Folder{
		Proxy: proxy, ProxyCert: proxyCert, ServiceCert: service, Bundle: bundle,
		TrustDomain: w.Certificates.TrustDomain(), XDSServer: w.XDSServer, Dir: dir,
	}.Files()
	if err != nil {
		return err
	}
	if err := writeFolder(dir, files); err != nil {
		return err
	}
	renewAt := proxyCert.RenewAt
	if service.RenewAt.Before(renewAt) {
		renewAt = service.RenewAt
	}
	w.mu.Lock()
	w.written[dir] = writtenFolder{proxy: proxy, service: service, renewAt: renewAt, bundle: bundle}
	w.mu.Unlock()
	log.Info("wrote a proxyless workload's files", "pod", pod.Namespace+"/"+pod.Name, "proxy", proxy.String(), "dir", dir, "renewAt", renewAt)
	return nil
}

// writeFolder replaces each file by rename, keys first, so that a reader
// never sees a partial file.
func writeFolder(dir string, files map[string][]byte) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, name := range []string{XDSKeyFile, KeyFile, XDSCertFile, CertFile, CAFile, BootstrapFile} {
		if err := atomicfile.Write(dir, name, files[name]); err != nil {
			return err
		}
	}
	return nil
}

// removeGone deletes the folders under Dir of pods no longer given (written
// by this run or an earlier one), and the namespaces' folders left empty.
func (w *FileWriter) removeGone(keep map[string]bool, log *slog.Logger) {
	namespaces, err := os.ReadDir(w.Dir)
	if err != nil {
		return
	}
	for _, ns := range namespaces {
		if !ns.IsDir() {
			continue
		}
		nsDir := filepath.Join(w.Dir, ns.Name())
		pods, _ := os.ReadDir(nsDir)
		left := 0
		for _, p := range pods {
			dir := filepath.Join(nsDir, p.Name())
			if keep[dir] {
				left++
				continue
			}
			if err := os.RemoveAll(dir); err != nil {
				log.Warn("removing a gone pod's files", "dir", dir, "error", err)
				left++
				continue
			}
			w.mu.Lock()
			delete(w.written, dir)
			w.mu.Unlock()
			log.Info("removed a gone proxyless workload's files", "dir", dir)
		}
		if left == 0 {
			os.Remove(nsDir)
		}
	}
}
