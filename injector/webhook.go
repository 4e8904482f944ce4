package injector

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/google/uuid"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/weft-mesh/weft/ca"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// Path is where weftd serves the sidecar injection webhook.
const Path = "/mutate-pod-creation"

// Defaults for Options.
const (
	DefaultXDSService    = "weftd"
	DefaultXDSPort       = 15128
	DefaultClusterDomain = "cluster.local"
)

// ProxyCertificates issues proxy certificates; *ca.Manager is one.
type ProxyCertificates interface {
	ProxyCertificate(ctx context.Context, p ca.Proxy) (*ca.Certificate, error)
}

// proxyForgetter is implemented by a ProxyCertificates that caches what it
// issued (*ca.Manager). The injector hands the certificate to the pod in its
// Secret and never asks again, so it drops the CA's copy at once: otherwise
// every pod ever injected would stay cached and be renewed for nothing.
type proxyForgetter interface {
	ForgetProxy(p ca.Proxy)
}

// SecretCreator creates bootstrap Secrets; a controller-runtime client.Client
// (or client.Writer) is one.
type SecretCreator interface {
	Create(ctx context.Context, obj client.Object, opts ...client.CreateOption) error
}

var (
	_ ProxyCertificates = (*ca.Manager)(nil)
	_ proxyForgetter    = (*ca.Manager)(nil)
	_ SecretCreator     = client.Writer(nil)
	_ admission.Handler = (*Webhook)(nil)
)

// Options configure the webhook. MeshName, MeshNamespace, Certificates,
// Secrets, Namespaces and MeshConfig are required.
type Options struct {
	// MeshName is the mesh's name: namespaces labelled
	// openservicemesh.io/monitored-by=<MeshName> are meshed.
	MeshName string
	// MeshNamespace is the control plane's namespace; its pods are never
	// injected.
	MeshNamespace string
	// TrustDomain ends proxy certificate names; default cluster.local.
	TrustDomain string

	// XDSService is the Service of the ADS server in MeshNamespace; default
	// weftd. Sidecars dial <XDSService>.<MeshNamespace>.svc.<ClusterDomain>
	// at XDSPort and expect the server name <XDSService>.<MeshNamespace>.svc.
	XDSService string
	// XDSPort is the ADS server's port; default 15128.
	XDSPort uint32
	// ClusterDomain is the cluster's DNS domain; default cluster.local.
	ClusterDomain string
	// XDSHost and XDSServerName, when set, replace the address and server
	// name derived from XDSService.
	XDSHost, XDSServerName string

	// Certificates issues each proxy's certificate (a *ca.Manager). When it
	// also has ForgetProxy, as the Manager does, the CA's cached copy is
	// dropped once issued: the Secret is the certificate's only home.
	Certificates ProxyCertificates
	// Secrets creates bootstrap Secrets; it should write to the API server
	// directly (a client.Client).
	Secrets SecretCreator
	// Namespaces returns a namespace by name; pass a cached reader
	// (NamespacesFrom(cache)): it is called on every admission.
	Namespaces func(ctx context.Context, name string) (*corev1.Namespace, error)
	// MeshConfig returns the current MeshConfig; nil means defaults.
	MeshConfig func() *configv1alpha2.MeshConfig

	// NewProxyID returns a fresh lower-case UUID per pod; default
	// uuid.NewString. Tests fix it.
	NewProxyID func() string
	// Logger logs every decision at debug level and every denial; default
	// discards.
	Logger *slog.Logger
}

// NamespacesFrom adapts a client.Reader (weftd passes its informer cache) to
// Options.Namespaces.
func NamespacesFrom(r client.Reader) func(context.Context, string) (*corev1.Namespace, error) {
	return func(ctx context.Context, name string) (*corev1.Namespace, error) {
		var ns corev1.Namespace
		if err := r.Get(ctx, types.NamespacedName{Name: name}, &ns); err != nil {
			return nil, err
		}
		return &ns, nil
	}
}

// Webhook injects the sidecar into pods being created. Safe for concurrent
// use.
type Webhook struct {
	opts Options
	xds  XDSEndpoint
	log  *slog.Logger
}

// NewWebhook checks opts and returns the injection webhook.
func NewWebhook(opts Options) (*Webhook, error) {
	var missing []error
	for _, o := range []struct {
		name  string
		unset bool
	}{
		{"MeshName", opts.MeshName == ""}, {"MeshNamespace", opts.MeshNamespace == ""},
		{"Certificates", opts.Certificates == nil}, {"Secrets", opts.Secrets == nil},
		{"Namespaces", opts.Namespaces == nil}, {"MeshConfig", opts.MeshConfig == nil},
	} {
		if o.unset {
			missing = append(missing, fmt.Errorf("missing Options.%s", o.name))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return nil, fmt.Errorf("injector.NewWebhook: %w", err)
	}
	if opts.TrustDomain == "" {
		opts.TrustDomain = ca.DefaultTrustDomain
	}
	if opts.XDSService == "" {
		opts.XDSService = DefaultXDSService
	}
	if opts.XDSPort == 0 {
		opts.XDSPort = DefaultXDSPort
	}
	if opts.ClusterDomain == "" {
		opts.ClusterDomain = DefaultClusterDomain
	}
	if opts.NewProxyID == nil {
		opts.NewProxyID = uuid.NewString
	}
	w := &Webhook{opts: opts, log: opts.Logger}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	svc := opts.XDSService + "." + opts.MeshNamespace + ".svc"
	w.xds = XDSEndpoint{Host: svc + "." + opts.ClusterDomain, Port: opts.XDSPort, ServerName: svc}
	if opts.XDSHost != "" {
		w.xds.Host = opts.XDSHost
	}
	if opts.XDSServerName != "" {
		w.xds.ServerName = opts.XDSServerName
	}
	return w, nil
}

// HTTPHandler returns the webhook as an http.Handler for Path.
func (w *Webhook) HTTPHandler() http.Handler {
	return &admission.Webhook{Handler: w}
}

// Handle answers one pod admission: allowed untouched when the pod is not to be
// injected, a JSON patch when it is, and a denial naming the pod and its
// namespace when it should be injected but cannot be (bad annotations, the CA
// or the API server failing). The denial is deliberate: the webhook's
// failurePolicy is Fail, so a pod of a meshed namespace never starts without
// its sidecar, whether weftd is down or failing (docs/injection.md).
func (w *Webhook) Handle(ctx context.Context, req admission.Request) admission.Response {
	start := time.Now()
	if req.Operation != admissionv1.Create || req.Kind.Kind != "Pod" || req.SubResource != "" {
		return admission.Allowed("")
	}
	var pod corev1.Pod
	if err := json.Unmarshal(req.Object.Raw, &pod); err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding the pod in namespace %s: %w", req.Namespace, err))
	}
	// A pod being created often has only a generateName; the request's
	// namespace is the one it is created in.
	name, namespace := podName(&pod), req.Namespace
	deny := func(err error) admission.Response {
		w.log.Warn("denying pod: cannot inject its sidecar", "pod", name, "namespace", namespace, "err", err)
		return admission.Denied(fmt.Sprintf("weft sidecar injection for pod %s in namespace %s: %v", name, namespace, err))
	}
	ns, err := w.opts.Namespaces(ctx, namespace)
	if err != nil {
		return deny(fmt.Errorf("reading the namespace: %w", err))
	}
	decision, err := Decide(w.opts.MeshName, w.opts.MeshNamespace, ns, &pod)
	if err != nil {
		return deny(err)
	}
	if !decision.Inject {
		w.log.Debug("not injecting", "pod", name, "namespace", namespace, "reason", decision.Reason)
		return admission.Allowed(decision.Reason)
	}
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default"
	}
	proxy := ca.Proxy{ID: w.opts.NewProxyID(), Kind: ca.ProxySidecar, Identity: ca.Identity{Namespace: namespace, ServiceAccount: sa}}
	metrics, _ := parseInjection(ns.Annotations[AnnotationMetrics])
	mutated, err := Inject(&pod, Injection{ProxyID: proxy.ID, MeshConfig: w.opts.MeshConfig(), Metrics: metrics})
	if err != nil {
		return deny(err)
	}
	// A dry run must have no side effects (sideEffects: NoneOnDryRun): it
	// shows the patch but issues no certificate and creates no Secret.
	if req.DryRun == nil || !*req.DryRun {
		if err := w.createBootstrapSecret(ctx, proxy); err != nil {
			return deny(err)
		}
	}
	raw, err := json.Marshal(mutated)
	if err != nil {
		return deny(fmt.Errorf("encoding the patched pod: %w", err))
	}
	resp := admission.PatchResponseFromRaw(req.Object.Raw, raw)
	w.log.Debug("injected sidecar", "pod", name, "namespace", namespace, "proxy", proxy.ID,
		"reason", decision.Reason, "took", time.Since(start))
	return resp
}

func (w *Webhook) createBootstrapSecret(ctx context.Context, proxy ca.Proxy) error {
	cert, err := w.opts.Certificates.ProxyCertificate(ctx, proxy)
	if err != nil {
		return fmt.Errorf("issuing the proxy certificate: %w", err)
	}
	if f, ok := w.opts.Certificates.(proxyForgetter); ok {
		f.ForgetProxy(proxy)
	}
	secret, err := BootstrapSecret(proxy, cert, w.opts.TrustDomain, w.xds)
	if err != nil {
		return err
	}
	if err := w.opts.Secrets.Create(ctx, secret); err != nil {
		return fmt.Errorf("creating bootstrap Secret %s: %w", secret.Name, err)
	}
	return nil
}

// podName is the pod's name, or its generateName followed by "*" when the API
// server has yet to choose one.
func podName(p *corev1.Pod) string {
	if p.Name != "" {
		return p.Name
	}
	if p.GenerateName != "" {
		return p.GenerateName + "*"
	}
	return "(unnamed)"
}
