package injector

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s/state"
	"github.com/weft-mesh/weft/pkg/mesh"
	"github.com/weft-mesh/weft/pkg/proxyless"
)

// Defaults for BootstrapSecrets.
const (
	DefaultXDSService = "weftd"
	DefaultXDSPort    = 15128
)

// BootstrapSecrets writes and renews the bootstrap Secret of every injected pod
// that exists. It trusts only what it can check:
//
//   - the identity comes from the pod (its namespace and service account),
//     never from a Secret's labels or a certificate's own claims, and the
//     Secret is written in the pod's namespace under the name the pod's
//     bootstrap volume mounts;
//   - only pods injected for this mesh count: the namespace is monitored by
//     MeshName, and the pod carries the sidecar, the bootstrap volume and a
//     proxy UUID no other live pod of its namespace claims;
//   - an existing Secret is kept only when its certificate verifies against
//     the mesh's roots, names exactly this pod's proxy and is not due, and the
//     rest of its content is what would be written; anything else (a Secret a
//     tenant planted, an expired or foreign certificate, a root rotation) is
//     overwritten with a fresh certificate for the pod's own identity.
//
// The Secret's owner is its pod, so Kubernetes deletes it with the pod.
// Sidecars reread the certificate through file-based SDS. Safe for concurrent
// use.
type BootstrapSecrets struct {
	// MeshName: only pods of namespaces labelled
	// openservicemesh.io/monitored-by=<MeshName> are served.
	MeshName string
	// XDS is where sidecars reach the ADS server.
	XDS XDSEndpoint
	// Certificates issues and checks proxy certificates; its trust domain
	// ends the node IDs the bootstrap configurations name.
	Certificates *ca.Manager
	// Client reads and writes Secrets; it should write to the API server
	// directly (a client.Client).
	Client client.Client
	// Namespaces returns a namespace by name (a cached reader).
	Namespaces func(ctx context.Context, name string) (*corev1.Namespace, error)
	// Clock; default the real clock.
	Clock clock.WithTicker
	// Logger; default discards.
	Logger *slog.Logger

	mu sync.Mutex
	// written records, per pod UID, the Secret content last verified or
	// written, so a round over every pod costs a map lookup until one is due.
	written map[types.UID]written
}

type written struct {
	proxyID string
	renewAt time.Time
	// bundle and signing are the mesh's roots and signing CA when it was
	// checked: a change of either makes it due.
	bundle  []byte
	signing string
	// service is the service certificate a proxyless pod's Secret holds:
	// when the CA renews it, the Secret follows.
	service *ca.Certificate
}

// XDSEndpointFor returns where sidecars reach the ADS server of a mesh whose
// control plane runs as service in the mesh namespace of cfg: host
// <service>.<namespace>.svc.<cluster domain>, server name
// <service>.<namespace>.svc. An empty service or a zero port takes the
// default.
func XDSEndpointFor(service string, cfg mesh.Config, port uint32) XDSEndpoint {
	service = orDefault(service, DefaultXDSService)
	if port == 0 {
		port = DefaultXDSPort
	}
	names := mesh.ServiceDNSNames(service, cfg.Namespace, cfg.ClusterDomain)
	return XDSEndpoint{Host: names[2], Port: port, ServerName: names[1]}
}

// ProxyOfPod returns the proxy an injected pod runs: its ID is the pod's
// osm-proxy-uuid label, its identity the pod's namespace and service account,
// its kind a sidecar, or a proxyless gRPC workload for a pod annotated
// weft.dev/proxyless: grpc, or a gateway for a pod annotated weft.dev/gateway
// (which must run as that Gateway's service account). It fails, saying why,
// when the pod was not injected (or provisioned) by Weft: no label, no envoy
// container (sidecars), or no bootstrap volume mounting that proxy's Secret.
func ProxyOfPod(pod *corev1.Pod) (ca.Proxy, error) {
	id := pod.Labels[LabelProxyUUID]
	if id == "" {
		return ca.Proxy{}, fmt.Errorf("no %s label", LabelProxyUUID)
	}
	grpc, err := proxyless.FromPod(pod)
	if err != nil {
		return ca.Proxy{}, err
	}
	// The annotation can be edited after admission: the kind must also be
	// what admission made of the pod (an envoy container or none).
	hasEnvoy := slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == EnvoyContainerName })
	kind := ca.ProxySidecar
	switch {
	case grpc && hasEnvoy:
		return ca.Proxy{}, fmt.Errorf("annotated %s: %s, but injected with an %s container", proxyless.Annotation, proxyless.KindGRPC, EnvoyContainerName)
	case grpc:
		kind = ca.ProxyGRPC
	case !hasEnvoy:
		return ca.Proxy{}, fmt.Errorf("no %s container", EnvoyContainerName)
	}
	if !slices.ContainsFunc(pod.Spec.Volumes, func(v corev1.Volume) bool {
		return v.Name == BootstrapVolumeName && v.Secret != nil && v.Secret.SecretName == BootstrapSecretName(id)
	}) {
		return ca.Proxy{}, fmt.Errorf("no %s volume mounting Secret %s", BootstrapVolumeName, BootstrapSecretName(id))
	}
	p := ca.Proxy{ID: id, Kind: kind, Identity: identity.FromPod(pod)}
	if gw, ok := pod.Annotations[AnnotationGateway]; ok && kind == ca.ProxySidecar {
		// A Gateway's Envoy (pkg/gateway provisions it): it runs as the
		// Gateway's own service account, which is all its kind is served by.
		if gw == "" || p.Identity.ServiceAccount != state.GatewayProvisionedName(gw) {
			return ca.Proxy{}, fmt.Errorf("annotated %s: %q, but runs as service account %s", AnnotationGateway, gw, p.Identity.ServiceAccount)
		}
		p.Kind = ca.ProxyGateway
	}
	if err := p.Validate(); err != nil {
		return ca.Proxy{}, err
	}
	return p, nil
}

// AnnotationGateway on a pod names the Gateway (of Weft's GatewayClass, in
// the pod's namespace) whose Envoy it runs: its proxy certificate is then of
// kind gateway.
const AnnotationGateway = "weft.dev/gateway"

// Reconcile makes the bootstrap Secret of pod current. claimants lists the
// live pods of its namespace that carry the same proxy UUID label (the pod
// itself included); a UUID that two pods claim is served to neither. It
// returns when the Secret is next due, or, when the pod is not served, why.
func (b *BootstrapSecrets) Reconcile(ctx context.Context, pod *corev1.Pod, claimants func() ([]corev1.Pod, error)) (next time.Time, skipped string, err error) {
	proxy, err := ProxyOfPod(pod)
	if err != nil {
		return time.Time{}, err.Error(), nil
	}
	if pod.DeletionTimestamp != nil {
		return time.Time{}, "the pod is being deleted", nil
	}
	now := b.clock().Now()
	bundle, signing := b.Certificates.Bundle(), b.Certificates.SigningRootFingerprint()
	b.mu.Lock()
	w, ok := b.written[pod.UID]
	b.mu.Unlock()
	if ok && w.proxyID == proxy.ID && now.Before(w.renewAt) && bytes.Equal(w.bundle, bundle) && w.signing == signing && b.sameService(ctx, proxy, w.service) {
		return w.renewAt, "", nil
	}

	others, err := claimants()
	if err != nil {
		return time.Time{}, "", fmt.Errorf("listing the pods of namespace %s: %w", pod.Namespace, err)
	}
	for _, other := range others {
		if other.UID != pod.UID && other.Labels[LabelProxyUUID] == proxy.ID {
			return time.Time{}, fmt.Sprintf("pod %s carries the same %s label", other.Name, LabelProxyUUID), nil
		}
	}
	ns, err := b.Namespaces(ctx, pod.Namespace)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("reading namespace %s: %w", pod.Namespace, err)
	}
	if ns.Labels[LabelMonitoredBy] != b.MeshName {
		return time.Time{}, fmt.Sprintf("namespace %s is not monitored by mesh %q", pod.Namespace, b.MeshName), nil
	}

	key := client.ObjectKey{Namespace: pod.Namespace, Name: BootstrapSecretName(proxy.ID)}
	var current corev1.Secret
	switch err := b.Client.Get(ctx, key, &current); {
	case apierrors.IsNotFound(err):
		return b.write(ctx, pod, proxy, nil)
	case err != nil:
		return time.Time{}, "", fmt.Errorf("reading bootstrap Secret %s: %w", key, err)
	}
	renewAt, service, why := b.check(ctx, &current, pod, proxy, bundle, now)
	if why == "" {
		b.remember(pod.UID, written{proxyID: proxy.ID, renewAt: renewAt, bundle: bundle, signing: signing, service: service})
		return renewAt, "", nil
	}
	b.log().Info("rewriting bootstrap Secret", "secret", key.String(), "pod", pod.Name, "reason", why)
	return b.write(ctx, pod, proxy, &current)
}

// check returns the renewal time of an existing Secret's certificates and,
// for a proxyless pod, the service certificate it holds; or why the Secret
// must be rewritten.
func (b *BootstrapSecrets) check(ctx context.Context, s *corev1.Secret, pod *corev1.Pod, proxy ca.Proxy, bundle []byte, now time.Time) (time.Time, *ca.Certificate, string) {
	certFile, keyFile := CertChainFileName, PrivateKeyFileName
	if proxy.Kind == ca.ProxyGRPC {
		certFile, keyFile = proxyless.XDSCertFile, proxyless.XDSKeyFile
	}
	if err := b.Certificates.CheckProxyCertificate(s.Data[certFile], proxy, now); err != nil {
		return time.Time{}, nil, "certificate: " + err.Error()
	}
	if _, err := tls.X509KeyPair(s.Data[certFile], s.Data[keyFile]); err != nil {
		return time.Time{}, nil, "its key does not match its certificate"
	}
	if !bytes.Equal(s.Data[TrustedCAFileName], bundle) {
		return time.Time{}, nil, "its roots are not the mesh's current roots"
	}
	if !metav1.IsControlledBy(s, pod) {
		return time.Time{}, nil, "it is not owned by the pod"
	}
	chain, _ := ca.ParseCertificatesPEM(s.Data[certFile])
	renewAt := b.Certificates.RenewalTime(chain[0])
	// The files that hold no certificate must be exactly what would be
	// written.
	issued := map[string]bool{certFile: true, keyFile: true, TrustedCAFileName: true}
	var service *ca.Certificate
	var want *corev1.Secret
	var err error
	if proxy.Kind == ca.ProxyGRPC {
		if service, err = b.Certificates.ServiceCertificate(ctx, proxy.Identity); err != nil {
			return time.Time{}, nil, "service certificate: " + err.Error()
		}
		if !bytes.Equal(s.Data[proxyless.CertFile], service.CertChainPEM) || !bytes.Equal(s.Data[proxyless.KeyFile], service.PrivateKeyPEM) {
			return time.Time{}, nil, "its service certificate is not the identity's current one"
		}
		issued[proxyless.CertFile], issued[proxyless.KeyFile] = true, true
		renewAt = earliest(renewAt, service.RenewAt)
		want, err = ProxylessSecret(proxy, &ca.Certificate{}, service, b.Certificates.TrustDomain(), b.XDS)
	} else {
		want, err = BootstrapSecret(proxy, &ca.Certificate{}, b.Certificates.TrustDomain(), b.XDS)
	}
	if err != nil {
		return time.Time{}, nil, err.Error()
	}
	if len(s.Data) != len(want.Data) {
		return time.Time{}, nil, "it holds other files than the mesh's"
	}
	for k, v := range want.Data {
		if !issued[k] && !bytes.Equal(s.Data[k], v) {
			return time.Time{}, nil, k + " is not the mesh's"
		}
	}
	return renewAt, service, ""
}

// sameService reports whether a proxyless proxy's recorded service
// certificate is still its identity's current one (always true for sidecars,
// whose Secret holds none).
func (b *BootstrapSecrets) sameService(ctx context.Context, proxy ca.Proxy, recorded *ca.Certificate) bool {
	if proxy.Kind != ca.ProxyGRPC {
		return true
	}
	current, err := b.Certificates.ServiceCertificate(ctx, proxy.Identity)
	return err == nil && current == recorded
}

func earliest(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// write issues a certificate for proxy and creates the pod's Secret, or
// replaces current's content and owner.
func (b *BootstrapSecrets) write(ctx context.Context, pod *corev1.Pod, proxy ca.Proxy, current *corev1.Secret) (time.Time, string, error) {
	cert, err := b.Certificates.ProxyCertificate(ctx, proxy)
	if err != nil {
		return time.Time{}, "", fmt.Errorf("issuing the certificate of %s: %w", proxy, err)
	}
	// The Secret is the certificate's only home: the CA keeps no copy.
	b.Certificates.ForgetProxy(proxy)
	renewAt := cert.RenewAt
	var want *corev1.Secret
	var service *ca.Certificate
	if proxy.Kind == ca.ProxyGRPC {
		// No sidecar serves a proxyless pod its service certificate over
		// SDS: the Secret carries it, and is rewritten when it renews.
		if service, err = b.Certificates.ServiceCertificate(ctx, proxy.Identity); err != nil {
			return time.Time{}, "", fmt.Errorf("service certificate of %s: %w", proxy.Identity, err)
		}
		renewAt = earliest(renewAt, service.RenewAt)
		want, err = ProxylessSecret(proxy, cert, service, b.Certificates.TrustDomain(), b.XDS)
	} else {
		want, err = BootstrapSecret(proxy, cert, b.Certificates.TrustDomain(), b.XDS)
	}
	if err != nil {
		return time.Time{}, "", err
	}
	// The mesh's label lets uninstalling it find its Secrets, and only them.
	want.Labels[mesh.LabelMeshName] = b.MeshName
	want.OwnerReferences = []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID, Controller: ptr.To(true),
	}}
	if current == nil {
		err = b.Client.Create(ctx, want)
	} else {
		// The whole object is replaced: labels, owner and data a tenant may
		// have planted do not survive. The resource version makes a
		// concurrent change fail rather than be overwritten.
		want.ResourceVersion = current.ResourceVersion
		err = b.Client.Update(ctx, want)
	}
	if err != nil {
		return time.Time{}, "", fmt.Errorf("writing bootstrap Secret %s/%s: %w", want.Namespace, want.Name, err)
	}
	b.remember(pod.UID, written{proxyID: proxy.ID, renewAt: renewAt, bundle: cert.TrustBundlePEM, signing: b.Certificates.SigningRootFingerprint(), service: service})
	b.log().Info("wrote bootstrap Secret", "secret", want.Namespace+"/"+want.Name, "pod", pod.Name,
		"proxy", proxy.String(), "notAfter", cert.NotAfter, "renewAt", renewAt)
	return renewAt, "", nil
}

// Forget drops what was recorded for a pod that is gone.
func (b *BootstrapSecrets) Forget(uid types.UID) {
	b.mu.Lock()
	delete(b.written, uid)
	b.mu.Unlock()
}

func (b *BootstrapSecrets) remember(uid types.UID, w written) {
	b.mu.Lock()
	if b.written == nil {
		b.written = map[types.UID]written{}
	}
	b.written[uid] = w
	b.mu.Unlock()
}

func (b *BootstrapSecrets) clock() clock.WithTicker {
	if b.Clock == nil {
		return clock.RealClock{}
	}
	return b.Clock
}

func (b *BootstrapSecrets) log() *slog.Logger { return orDiscard(b.Logger) }

// DefaultBootstrapSecretsInterval is how often Run walks every pod to find
// certificates that are due; a walk costs a map lookup per pod.
const DefaultBootstrapSecretsInterval = 30 * time.Second

// Run serves the injected pods that pods (a cache whose Pod informer may be
// limited to pods carrying the osm-proxy-uuid label) shows, until ctx ends:
// at once when a pod appears or changes, when the mesh's roots or signing CA
// change, and
// every interval (default DefaultBootstrapSecretsInterval) for certificates
// that are due. Failures are retried with backoff.
func (b *BootstrapSecrets) Run(ctx context.Context, pods cache.Cache, interval time.Duration) error {
	if interval <= 0 {
		interval = DefaultBootstrapSecretsInterval
	}
	informer, err := pods.GetInformer(ctx, &corev1.Pod{})
	if err != nil {
		return err
	}
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[types.NamespacedName]())
	defer queue.ShutDown()
	enqueue := func(obj any) {
		if pod, ok := obj.(*corev1.Pod); ok && pod.Labels[LabelProxyUUID] != "" {
			queue.Add(types.NamespacedName{Namespace: pod.Namespace, Name: pod.Name})
		}
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: func(obj any) {
			if t, ok := obj.(toolscache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if pod, ok := obj.(*corev1.Pod); ok {
				b.Forget(pod.UID)
			}
		},
	}); err != nil {
		return err
	}
	if !pods.WaitForCacheSync(ctx) {
		return ctx.Err()
	}
	enqueueAll := func() {
		var list corev1.PodList
		if err := pods.List(ctx, &list, client.HasLabels{LabelProxyUUID}); err != nil {
			b.log().Error("listing injected pods", "error", err)
			return
		}
		for i := range list.Items {
			enqueue(&list.Items[i])
		}
	}
	const workers = 4
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b.processNext(ctx, pods, queue) {
			}
		}()
	}
	sub := b.Certificates.Subscribe()
	defer sub.Close()
	ticker := b.clock().NewTicker(interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			queue.ShutDown()
			wg.Wait()
			return nil
		case <-sub.Ready():
			// New roots, or renewals after a new signing CA: every pod is
			// looked at (a map lookup for those still current).
			sub.Take()
			enqueueAll()
		case <-ticker.C():
			enqueueAll()
		}
	}
}

func (b *BootstrapSecrets) processNext(ctx context.Context, pods cache.Cache, queue workqueue.TypedRateLimitingInterface[types.NamespacedName]) bool {
	key, shutdown := queue.Get()
	if shutdown {
		return false
	}
	defer queue.Done(key)
	var pod corev1.Pod
	if err := pods.Get(ctx, key, &pod); err != nil {
		if !apierrors.IsNotFound(err) {
			queue.AddRateLimited(key)
		}
		return true
	}
	claimants := func() ([]corev1.Pod, error) {
		var list corev1.PodList
		err := pods.List(ctx, &list, client.InNamespace(pod.Namespace), client.MatchingLabels{LabelProxyUUID: pod.Labels[LabelProxyUUID]})
		return list.Items, err
	}
	_, skipped, err := b.Reconcile(ctx, &pod, claimants)
	switch {
	case err != nil:
		b.log().Error("bootstrap Secret", "pod", key.String(), "error", err)
		queue.AddRateLimited(key)
	case skipped != "":
		b.log().Debug("not serving pod", "pod", key.String(), "reason", skipped)
		queue.Forget(key)
	default:
		queue.Forget(key)
	}
	return true
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
