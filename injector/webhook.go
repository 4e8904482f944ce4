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
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/identity"
)

// Path is where weftd serves the sidecar injection webhook.
const Path = "/mutate-pod-creation"

var _ admission.Handler = (*Webhook)(nil)

// Options configure the webhook. MeshName, MeshNamespace, Namespaces,
// ServiceAccounts and MeshConfig are required.
type Options struct {
	// MeshName is the mesh's name: namespaces labelled
	// openservicemesh.io/monitored-by=<MeshName> are meshed.
	MeshName string
	// MeshNamespace is the control plane's namespace; its pods are never
	// injected.
	MeshNamespace string

	// Namespaces returns a namespace by name; pass a cached reader
	// (NamespacesFrom(cache)): it is called on every admission.
	Namespaces func(ctx context.Context, name string) (*corev1.Namespace, error)
	// ServiceAccounts returns a service account by namespace and name; pass
	// a cached reader (ServiceAccountsFrom(cache)).
	ServiceAccounts func(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error)
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

// ServiceAccountsFrom adapts readers to Options.ServiceAccounts: the first
// (weftd's informer cache) is asked first, and each next one only when the
// ones before did not find the account.
func ServiceAccountsFrom(readers ...client.Reader) func(context.Context, string, string) (*corev1.ServiceAccount, error) {
	return func(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
		var err error
		for _, r := range readers {
			var sa corev1.ServiceAccount
			if err = r.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, &sa); err == nil {
				return &sa, nil
			}
			if !apierrors.IsNotFound(err) {
				return nil, err
			}
		}
		return nil, err
	}
}

// Webhook injects the sidecar into pods being created. It has no side
// effects: it only answers with a patch. The pod's bootstrap Secret (and its
// certificate) is written by BootstrapSecrets once the pod exists, so a caller
// that is not the API server can make it issue nothing. Safe for concurrent
// use.
type Webhook struct {
	opts Options
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
		{"Namespaces", opts.Namespaces == nil}, {"ServiceAccounts", opts.ServiceAccounts == nil},
		{"MeshConfig", opts.MeshConfig == nil},
	} {
		if o.unset {
			missing = append(missing, fmt.Errorf("missing Options.%s", o.name))
		}
	}
	if err := errors.Join(missing...); err != nil {
		return nil, fmt.Errorf("injector.NewWebhook: %w", err)
	}
	if opts.NewProxyID == nil {
		opts.NewProxyID = uuid.NewString
	}
	w := &Webhook{opts: opts, log: opts.Logger}
	if w.log == nil {
		w.log = slog.New(slog.DiscardHandler)
	}
	return w, nil
}

// HTTPHandler returns the webhook as an http.Handler for Path.
func (w *Webhook) HTTPHandler() http.Handler {
	return &admission.Webhook{Handler: w}
}

// Handle answers one pod admission: allowed untouched when the pod is not to be
// injected, a JSON patch when it is, and a denial naming the pod and its
// namespace when it should be injected but cannot be (bad annotations, a
// service account that does not exist). The denial is deliberate: the webhook's
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
	// The API server's own ServiceAccount admission refuses a pod whose
	// service account is missing; checking again keeps a caller that is not
	// the API server from learning anything but that.
	sa := identity.FromPod(&pod).ServiceAccount
	if _, err := w.opts.ServiceAccounts(ctx, namespace, sa); err != nil {
		return deny(fmt.Errorf("service account %s: %w", sa, err))
	}
	proxyID := w.opts.NewProxyID()
	metrics, _ := parseInjection(ns.Annotations[AnnotationMetrics])
	mutated, err := Inject(&pod, Injection{ProxyID: proxyID, MeshConfig: w.opts.MeshConfig(), Metrics: metrics})
	if err != nil {
		return deny(err)
	}
	raw, err := json.Marshal(mutated)
	if err != nil {
		return deny(fmt.Errorf("encoding the patched pod: %w", err))
	}
	resp := admission.PatchResponseFromRaw(req.Object.Raw, raw)
	w.log.Debug("injected sidecar", "pod", name, "namespace", namespace, "proxy", proxyID,
		"reason", decision.Reason, "took", time.Since(start))
	return resp
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
