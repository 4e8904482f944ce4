package k8s

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/dynamic/dynamicinformer"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"

	smiaccessclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/access/clientset/versioned"
	smiaccessinformers "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/access/informers/externalversions"
	smispecsclient "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/clientset/versioned"
	smispecsinformers "github.com/servicemeshinterface/smi-sdk-go/pkg/gen/client/specs/informers/externalversions"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s/state"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
)

// Defaults of ClusterSource's coalescing window.
const (
	DefaultQuietWindow = 100 * time.Millisecond
	DefaultMaxDelay    = time.Second
)

// ClusterSource watches a cluster with shared informers and announces a State
// after each burst of changes.
//
// What it watches: Namespaces, Pods, Services, EndpointSlices and
// ServiceAccounts (client-go informers); TrafficTargets, HTTPRouteGroups and
// TCPRoutes (smi-sdk-go informers); and, through dynamic informers converted to
// Weft's types, TrafficSplits (Weft's split/v1alpha2, whose weights may be
// "500m"), IngressBackends, Egresses, UpstreamTrafficSettings, Retries and
// MeshConfigs; and Gateway API's HTTPRoutes, GRPCRoutes, ReferenceGrants,
// GatewayClasses and Gateways (v1) when the API server serves them at start
// and RBAC lets weftd list and watch them (both optional: weftd must restart
// to see them granted later). The TLS Secrets that Weft's Gateways name are
// read by name at each snapshot (gatewaySecrets), never listed. Informers are cluster-wide: namespaces join and leave the mesh by
// label at any time, and IngressBackends name Services outside the mesh (such as
// ingress-nginx's), so NewState, not the informers, keeps what the mesh needs.
// Managed fields are dropped from cached objects to save memory.
//
// A burst of events is announced once nothing has changed for QuietWindow, or
// MaxDelay after its first event, whichever is first (Coalescer).
type ClusterSource struct {
	// Config reaches the API server.
	Config *rest.Config
	// Options name the mesh.
	Options Options
	// QuietWindow and MaxDelay tune the coalescing; zero means the defaults.
	QuietWindow, MaxDelay time.Duration
	// Clock defaults to the real clock.
	Clock clock.Clock
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Registerer receives osm_k8s_api_event_count; nil counts nothing.
	Registerer prometheus.Registerer
}

// Dynamic resources read into Weft's own types, with their names in
// osm_k8s_api_event_count (OSM's words).
var dynamicKinds = []struct {
	gvr  schema.GroupVersionResource
	name string
}{
	{splitv1alpha2.GroupVersion.WithResource("trafficsplits"), "trafficsplit"},
	{policyv1alpha1.GroupVersion.WithResource("ingressbackends"), "ingressbackend"},
	{policyv1alpha1.GroupVersion.WithResource("egresses"), "egress"},
	{policyv1alpha1.GroupVersion.WithResource("upstreamtrafficsettings"), "upstreamtrafficsetting"},
	{policyv1alpha1.GroupVersion.WithResource("retries"), "retry"},
	{configv1alpha2.GroupVersion.WithResource("meshconfigs"), "meshconfig"},
}

// Gateway API resources, watched when the API server serves them.
var gatewayKinds = []schema.GroupVersionResource{
	schema.GroupVersion(gatewayv1.GroupVersion).WithResource("httproutes"),
	schema.GroupVersion(gatewayv1.GroupVersion).WithResource("grpcroutes"),
	schema.GroupVersion(gatewayv1.GroupVersion).WithResource("referencegrants"),
	schema.GroupVersion(gatewayv1.GroupVersion).WithResource("gatewayclasses"),
	schema.GroupVersion(gatewayv1.GroupVersion).WithResource("gateways"),
}

// servedGatewayKinds are those of gatewayKinds the API server serves and
// weftd may list and watch: an informer on a resource without its CRD, or
// that RBAC forbids, would never sync, and hold up the whole mesh.
func servedGatewayKinds(ctx context.Context, kube kubernetes.Interface, log *slog.Logger) ([]schema.GroupVersionResource, error) {
	list, err := kube.Discovery().ServerResourcesForGroupVersion(gatewayv1.GroupVersion.String())
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []schema.GroupVersionResource
	for _, gvr := range gatewayKinds {
		if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool { return r.Name == gvr.Resource }) {
			continue
		}
		allowed, err := mayListAndWatch(ctx, kube, gvr)
		if err != nil {
			return nil, err
		}
		if !allowed {
			log.Warn("Gateway API resource served but weftd may not list and watch it: not read", "resource", gvr.Resource)
			continue
		}
		out = append(out, gvr)
	}
	return out, nil
}

func mayListAndWatch(ctx context.Context, kube kubernetes.Interface, gvr schema.GroupVersionResource) (bool, error) {
	for _, verb := range []string{"list", "watch"} {
		r, err := kube.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
			Spec: authorizationv1.SelfSubjectAccessReviewSpec{ResourceAttributes: &authorizationv1.ResourceAttributes{
				Verb: verb, Group: gvr.Group, Version: gvr.Version, Resource: gvr.Resource}},
		}, metav1.CreateOptions{})
		if err != nil {
			return false, fmt.Errorf("asking whether weftd may %s %s: %w", verb, gvr.Resource, err)
		}
		if !r.Status.Allowed {
			return false, nil
		}
	}
	return true, nil
}

// Run implements Source.
func (c *ClusterSource) Run(ctx context.Context, announce func(*State)) error {
	clk := c.Clock
	if clk == nil {
		clk = clock.RealClock{}
	}
	log := c.Logger
	if log == nil {
		log = slog.Default()
	}
	kube, err := kubernetes.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	access, err := smiaccessclient.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	specs, err := smispecsclient.NewForConfig(c.Config)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(c.Config)
	if err != nil {
		return err
	}

	kubeFactory := informers.NewSharedInformerFactory(kube, 0)
	accessFactory := smiaccessinformers.NewSharedInformerFactory(access, 0)
	specsFactory := smispecsinformers.NewSharedInformerFactory(specs, 0)
	dynFactory := dynamicinformer.NewDynamicSharedInformerFactory(dyn, 0)

	namespaces := kubeFactory.Core().V1().Namespaces().Informer()
	events, err := newEventCounter(c.Registerer, c.Options, namespaces.GetStore())
	if err != nil {
		return err
	}
	// Kinds as OSM named them in osm_k8s_api_event_count.
	typed := []struct {
		inf  cache.SharedIndexInformer
		name string
	}{
		{namespaces, "namespace"},
		{kubeFactory.Core().V1().Pods().Informer(), "pod"},
		{kubeFactory.Core().V1().Services().Informer(), "service"},
		{kubeFactory.Discovery().V1().EndpointSlices().Informer(), "endpointslice"},
		{kubeFactory.Core().V1().ServiceAccounts().Informer(), "serviceaccount"},
		{accessFactory.Access().V1alpha3().TrafficTargets().Informer(), "traffictarget"},
		{specsFactory.Specs().V1alpha4().HTTPRouteGroups().Informer(), "routegroup"},
		{specsFactory.Specs().V1alpha4().TCPRoutes().Informer(), "tcproute"},
	}
	var all []cache.SharedIndexInformer
	for _, t := range typed {
		if err := t.inf.SetTransform(dropManagedFields); err != nil {
			return err
		}
		if _, err := t.inf.AddEventHandler(events.handler(t.name)); err != nil {
			return err
		}
		all = append(all, t.inf)
	}
	gateway, err := servedGatewayKinds(ctx, kube, log)
	if err != nil {
		return fmt.Errorf("discovering Gateway API resources: %w", err)
	}
	if len(gateway) < len(gatewayKinds) {
		log.Info("Gateway API resources not all served and allowed; GAMMA routes unseen until weftd restarts", "read", len(gateway))
	}
	kinds := slices.Clone(dynamicKinds)
	for _, gvr := range gateway {
		// The event count's name: the resource, singular.
		kinds = append(kinds, struct {
			gvr  schema.GroupVersionResource
			name string
		}{gvr, strings.TrimSuffix(gvr.Resource, "s")})
	}
	for _, d := range kinds {
		inf := dynFactory.ForResource(d.gvr).Informer()
		if err := inf.SetTransform(toTyped); err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(events.handler(d.name)); err != nil {
			return err
		}
		all = append(all, inf)
	}

	changes := make(chan struct{}, 1)
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { signal(changes) },
		UpdateFunc: func(any, any) { signal(changes) },
		DeleteFunc: func(any) { signal(changes) },
	}
	for _, inf := range all {
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
	}

	kubeFactory.Start(ctx.Done())
	accessFactory.Start(ctx.Done())
	specsFactory.Start(ctx.Done())
	dynFactory.Start(ctx.Done())
	defer func() {
		kubeFactory.Shutdown()
		dynFactory.Shutdown()
	}()
	synced := make([]cache.InformerSynced, len(all))
	for i, inf := range all {
		synced[i] = inf.HasSynced
	}
	if !cache.WaitForCacheSync(ctx.Done(), synced...) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("the informers did not sync")
	}
	// Everything so far is in the first State.
	select {
	case <-changes:
	default:
	}
	snapshot := func() {
		state := c.snapshot(ctx, kube, all, log)
		log.Debug("announcing a state", "pods", len(state.Pods), "services", len(state.Services),
			"trafficTargets", len(state.TrafficTargets), "rejected", len(state.Rejected))
		announce(state)
	}
	snapshot()

	co := &Coalescer{Quiet: c.QuietWindow, MaxDelay: c.MaxDelay}
	if co.Quiet <= 0 {
		co.Quiet = DefaultQuietWindow
	}
	if co.MaxDelay <= 0 {
		co.MaxDelay = DefaultMaxDelay
	}
	runCoalesced(ctx, clk, co, changes, snapshot)
	return ctx.Err()
}

func (c *ClusterSource) snapshot(ctx context.Context, kube kubernetes.Interface, all []cache.SharedIndexInformer, log *slog.Logger) *State {
	var objs []runtime.Object
	var rejected []Rejected
	for _, inf := range all {
		for _, item := range inf.GetStore().List() {
			switch o := item.(type) {
			case *badObject:
				rejected = append(rejected, o.Rejected)
			case runtime.Object:
				objs = append(objs, o)
			}
		}
	}
	objs = append(objs, gatewaySecrets(ctx, kube, objs, c.Options.MeshName, log)...)
	return NewState(objs, c.Options, rejected)
}

// gatewaySecrets reads, one by one, the Secrets that the Gateways of Weft's
// classes in the mesh's namespaces name in certificateRefs: weftd may get
// Secrets but not list or watch them all. A Secret that cannot be read is
// left out; the catalog reports the listener.
func gatewaySecrets(ctx context.Context, kube kubernetes.Interface, objs []runtime.Object, meshName string, log *slog.Logger) []runtime.Object {
	classes, monitored := map[string]bool{}, map[string]bool{}
	for _, o := range objs {
		switch o := o.(type) {
		case *gatewayv1.GatewayClass:
			classes[o.Name] = o.Spec.ControllerName == state.GatewayClassController
		case *corev1.Namespace:
			monitored[o.Name] = meshName != "" && o.Labels[MonitoredByLabel] == meshName
		}
	}
	var out []runtime.Object
	seen := map[nsName]bool{}
	for _, o := range objs {
		gw, ok := o.(*gatewayv1.Gateway)
		if !ok || !classes[string(gw.Spec.GatewayClassName)] || !monitored[gw.Namespace] {
			continue
		}
		for _, l := range gw.Spec.Listeners {
			if l.TLS == nil {
				continue
			}
			for _, r := range l.TLS.CertificateRefs {
				if (r.Group != nil && *r.Group != "") || (r.Kind != nil && *r.Kind != "Secret") {
					continue
				}
				key := nsName{gw.Namespace, string(r.Name)}
				if r.Namespace != nil && *r.Namespace != "" {
					key.namespace = string(*r.Namespace)
				}
				if seen[key] {
					continue
				}
				seen[key] = true
				s, err := kube.CoreV1().Secrets(key.namespace).Get(ctx, key.name, metav1.GetOptions{})
				if err != nil {
					if !apierrors.IsNotFound(err) {
						log.Warn("reading a Gateway's certificate", "secret", key.namespace+"/"+key.name, "error", err)
					}
					continue
				}
				s.ManagedFields = nil
				out = append(out, s)
			}
		}
	}
	return out
}

// badObject is what a dynamic informer caches for an object that does not fit
// its Go type; it keeps the object's key so that updates and deletes still work.
type badObject struct {
	metav1.ObjectMeta
	Rejected
}

// toTyped converts, once as they arrive, the dynamic informers' objects to
// Weft's types.
func toTyped(obj any) (any, error) {
	u, ok := obj.(*unstructured.Unstructured)
	if !ok {
		return obj, nil // a cache.DeletedFinalStateUnknown, for instance
	}
	u.SetManagedFields(nil)
	typed, err := Typed(u, nil)
	if err != nil || typed == nil {
		reason := "unknown kind"
		if err != nil {
			reason = err.Error()
		}
		return &badObject{
			ObjectMeta: metav1.ObjectMeta{Namespace: u.GetNamespace(), Name: u.GetName(), UID: u.GetUID(), ResourceVersion: u.GetResourceVersion()},
			Rejected:   Rejected{Kind: u.GetKind(), Namespace: u.GetNamespace(), Name: u.GetName(), Reason: reason},
		}, nil
	}
	return typed, nil
}

func dropManagedFields(obj any) (any, error) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
