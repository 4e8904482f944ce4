package main

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	corev1 "k8s.io/api/core/v1"

	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/pkg/controlplane"
	"github.com/weft-mesh/weft/pkg/proxyless"
	"github.com/weft-mesh/weft/pkg/xds"
)

// readiness is what /readyz checks: each part that must be up before weftd
// takes traffic adds a condition when it starts. A part that is off adds
// none.
type readiness struct {
	mu     sync.Mutex
	checks []readinessCheck
}

type readinessCheck struct {
	name string
	ok   func() bool
}

func (r *readiness) add(name string, ok func() bool) {
	r.mu.Lock()
	r.checks = append(r.checks, readinessCheck{name, ok})
	r.mu.Unlock()
}

// flag is a condition that becomes true once, when its part is up.
func (r *readiness) flag(name string) *atomic.Bool {
	b := &atomic.Bool{}
	r.add(name, b.Load)
	return b
}

// ServeHTTP answers 200 "ok", or 503 naming what is not ready.
func (r *readiness) ServeHTTP(w http.ResponseWriter, _ *http.Request) {
	r.mu.Lock()
	checks := r.checks
	r.mu.Unlock()
	var waiting []string
	for _, c := range checks {
		if !c.ok() {
			waiting = append(waiting, c.name)
		}
	}
	if len(waiting) > 0 {
		http.Error(w, "not ready: "+strings.Join(waiting, "; "), http.StatusServiceUnavailable)
		return
	}
	_, _ = w.Write([]byte("ok\n"))
}

// Readiness conditions, as /readyz names them.
const (
	readyCA        = "the CA has not loaded the mesh root (or its cert-manager signer)"
	readyADS       = "the ADS server is not listening"
	readyInformers = "the first mesh model is not built (informers not synced, or files not read)"
)

// podIndex knows, from each State's Pods, which pod runs each proxy: a
// proxy certificate names no pod, the osm-proxy-uuid label does (and in files
// mode a proxyless pod's UID or name).
type podIndex struct {
	mu      sync.RWMutex
	byProxy map[string]*corev1.Pod
}

var _ controlplane.PodReceiver = (*podIndex)(nil)

func (x *podIndex) SetPods(pods []*corev1.Pod) {
	byProxy := make(map[string]*corev1.Pod, len(pods))
	for _, pod := range pods {
		if id := pod.Labels[injector.LabelProxyUUID]; id != "" {
			byProxy[id] = pod
			continue
		}
		if grpc, err := proxyless.FromPod(pod); err == nil && grpc {
			if p, err := proxyless.ProxyOfPod(pod); err == nil {
				byProxy[p.ID] = pod
			}
		}
	}
	x.mu.Lock()
	x.byProxy = byProxy
	x.mu.Unlock()
}

func (x *podIndex) pod(proxyID string) (namespace, name string) {
	x.mu.RLock()
	defer x.mu.RUnlock()
	if pod, ok := x.byProxy[proxyID]; ok {
		return pod.Namespace, pod.Name
	}
	return "", ""
}

// podReceivers hands each State's Pods to several receivers.
type podReceivers []controlplane.PodReceiver

func (rs podReceivers) SetPods(pods []*corev1.Pod) {
	for _, r := range rs {
		r.SetPods(pods)
	}
}

// proxyStatusPath serves the connected proxies' xDS status on the health
// listener, which weftd's Service exposes (port http-metrics): `weft proxy
// status` reads it through the API server's service and pod proxies, so
// Kubernetes RBAC on services/proxy and pods/proxy decides who may. It
// shows versions, pods and NACK messages, never configuration.
const proxyStatusPath = "/debug/proxy-status"

// proxyStatusHandler answers a JSON list of xds.ProxyStatus, the pods filled
// in where known, filtered by ?pod=<namespace>/<name>, ?namespace=<namespace>
// (a proxy's identity is in its pod's namespace) or ?proxy=<id>.
func proxyStatusHandler(server *xds.Server, pods *podIndex) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		var podNS, podName string
		if v := q.Get("pod"); v != "" {
			var ok bool
			if podNS, podName, ok = strings.Cut(v, "/"); !ok || podNS == "" || podName == "" {
				http.Error(w, "name the pod as ?pod=<namespace>/<name>", http.StatusBadRequest)
				return
			}
		}
		namespace, proxyID := q.Get("namespace"), q.Get("proxy")
		out := []xds.ProxyStatus{}
		for _, s := range server.ProxyStatuses() {
			s.PodNamespace, s.PodName = pods.pod(s.ID)
			if (proxyID != "" && s.ID != proxyID) ||
				(podName != "" && (s.PodNamespace != podNS || s.PodName != podName)) ||
				(namespace != "" && s.Identity.Namespace != namespace) {
				continue
			}
			out = append(out, s)
		}
		writeJSON(w, out)
	}
}
