package ingressgateway

import (
	"context"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// RetryInterval is how long Run waits after a failed Reconcile.
const RetryInterval = 10 * time.Second

// Run watches the MeshConfig osm-mesh-config in the mesh namespace (through
// an informer limited to that one object) and reconciles on every change, when
// the certificate is due, and when the CA's trust bundle or certificates
// change, until ctx ends. Timers use clk (nil: the real clock).
func (r *Reconciler) Run(ctx context.Context, cfg *rest.Config, scheme *runtime.Scheme, clk clock.Clock) error {
	if clk == nil {
		clk = clock.RealClock{}
	}
	c, err := cache.New(cfg, cache.Options{
		Scheme:            scheme,
		DefaultNamespaces: map[string]cache.Config{r.meshNamespace: {}},
		ByObject: map[client.Object]cache.ByObject{
			&configv1alpha2.MeshConfig{}: {Field: fields.OneTermEqualSelector("metadata.name", configv1alpha2.DefaultMeshConfigName)},
		},
	})
	if err != nil {
		return err
	}
	informer, err := c.GetInformer(ctx, &configv1alpha2.MeshConfig{})
	if err != nil {
		return err
	}
	changed := make(chan struct{}, 1)
	poke := func() {
		select {
		case changed <- struct{}{}:
		default:
		}
	}
	if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { poke() },
		UpdateFunc: func(any, any) { poke() },
		DeleteFunc: func(any) { poke() },
	}); err != nil {
		return err
	}
	go func() { _ = c.Start(ctx) }()
	if !c.WaitForCacheSync(ctx) {
		return ctx.Err()
	}
	key := types.NamespacedName{Namespace: r.meshNamespace, Name: configv1alpha2.DefaultMeshConfigName}
	return r.follow(ctx, func() (*configv1alpha2.MeshConfig, error) {
		var mc configv1alpha2.MeshConfig
		err := c.Get(ctx, key, &mc)
		if apierrors.IsNotFound(err) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		return &mc, nil
	}, changed, clk)
}

// Feed hands Follow each MeshConfig the control-plane loop reads (files
// mode, where no informer watches the API). Its zero value is ready.
type Feed struct {
	mu      sync.Mutex
	mc      *configv1alpha2.MeshConfig
	changed chan struct{}
}

func (f *Feed) signal() chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.changed == nil {
		f.changed = make(chan struct{}, 1)
	}
	return f.changed
}

// SetMeshConfig makes mc (nil: none) the current MeshConfig.
func (f *Feed) SetMeshConfig(mc *configv1alpha2.MeshConfig) {
	f.mu.Lock()
	f.mc = mc
	f.mu.Unlock()
	select {
	case f.signal() <- struct{}{}:
	default:
	}
}

func (f *Feed) current() (*configv1alpha2.MeshConfig, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.mc, nil
}

// Follow reconciles on every MeshConfig feed is given (from the first one
// on), when the certificate is due, and when the CA's trust bundle or
// certificates change, until ctx ends.
func (r *Reconciler) Follow(ctx context.Context, feed *Feed, clk clock.Clock) error {
	if clk == nil {
		clk = clock.RealClock{}
	}
	changed := feed.signal()
	select {
	case <-ctx.Done():
		return nil
	case <-changed:
	}
	return r.follow(ctx, feed.current, changed, clk)
}

// follow reconciles the MeshConfig current returns now, on changed, when the
// certificate is due and on the CA's announcements, until ctx ends.
func (r *Reconciler) follow(ctx context.Context, current func() (*configv1alpha2.MeshConfig, error), changed <-chan struct{}, clk clock.Clock) error {
	sub := r.manager.Subscribe()
	defer sub.Close()
	for {
		var wait time.Duration
		mc, err := current()
		var res Result
		if err == nil {
			res, err = r.Reconcile(ctx, mc)
		}
		if err != nil {
			r.log.Error("reconciling the ingress gateway certificate", "error", err)
			wait = RetryInterval
		} else if !res.RenewAt.IsZero() {
			wait = max(res.RenewAt.Sub(clk.Now()), time.Second)
		}
		var timer <-chan time.Time
		if wait > 0 {
			timer = clk.After(wait)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-changed:
		case <-sub.Ready():
			sub.Take()
		case <-timer:
		}
	}
}
