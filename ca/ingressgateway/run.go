package ingressgateway

import (
	"context"
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
	sub := r.manager.Subscribe()
	defer sub.Close()

	key := types.NamespacedName{Namespace: r.meshNamespace, Name: configv1alpha2.DefaultMeshConfigName}
	for {
		var wait time.Duration
		var mc configv1alpha2.MeshConfig
		err := c.Get(ctx, key, &mc)
		var res Result
		switch {
		case apierrors.IsNotFound(err):
			res, err = r.Reconcile(ctx, nil)
		case err == nil:
			res, err = r.Reconcile(ctx, &mc)
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
