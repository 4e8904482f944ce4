package injector

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// DefaultBootstrapSecretGracePeriod is how old an unused bootstrap Secret must
// be before it is deleted: a pod admitted a moment ago may not be stored (or
// seen by a cache) yet, and its Secret must not be raced away.
const DefaultBootstrapSecretGracePeriod = 5 * time.Minute

// SecretCollectorClient is what the collector needs: list pods and Secrets,
// delete Secrets. A controller-runtime client.Client satisfies it.
type SecretCollectorClient interface {
	List(ctx context.Context, list client.ObjectList, opts ...client.ListOption) error
	Delete(ctx context.Context, obj client.Object, opts ...client.DeleteOption) error
}

var _ SecretCollectorClient = client.Client(nil)

// CollectBootstrapSecrets deletes the bootstrap Secrets (labelled
// app.kubernetes.io/managed-by: weft and osm-proxy-uuid) whose proxy UUID no
// pod in their namespace carries any more and that were created more than
// grace before now. It returns the deleted Secrets as namespace/name.
//
// c must list pods as they are: a direct client, or a cache that has synced. A
// cache that has not synced yet would show no pods, and every Secret older
// than grace would look unused; Secrets are never deleted while their pod
// runs only if the pod list is true.
func CollectBootstrapSecrets(ctx context.Context, c SecretCollectorClient, now time.Time, grace time.Duration) ([]string, error) {
	var pods corev1.PodList
	if err := c.List(ctx, &pods, client.HasLabels{LabelProxyUUID}); err != nil {
		return nil, fmt.Errorf("listing meshed pods: %w", err)
	}
	inUse := map[string]bool{}
	for _, p := range pods.Items {
		inUse[p.Namespace+"/"+p.Labels[LabelProxyUUID]] = true
	}
	var secrets corev1.SecretList
	if err := c.List(ctx, &secrets, client.MatchingLabels{LabelManagedBy: managedByWeft}, client.HasLabels{LabelProxyUUID}); err != nil {
		return nil, fmt.Errorf("listing bootstrap Secrets: %w", err)
	}
	var deleted []string
	var errs []error
	for i := range secrets.Items {
		s := &secrets.Items[i]
		id := s.Labels[LabelProxyUUID]
		if !strings.HasPrefix(s.Name, BootstrapSecretPrefix) || inUse[s.Namespace+"/"+id] || now.Sub(s.CreationTimestamp.Time) < grace {
			continue
		}
		uid, rv := s.UID, s.ResourceVersion
		err := c.Delete(ctx, s, client.Preconditions{UID: &uid, ResourceVersion: &rv})
		switch {
		case err == nil:
			deleted = append(deleted, s.Namespace+"/"+s.Name)
		case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
			// Gone already, or changed since listed: the next round decides.
		default:
			errs = append(errs, fmt.Errorf("deleting bootstrap Secret %s/%s: %w", s.Namespace, s.Name, err))
		}
	}
	return deleted, errors.Join(errs...)
}

// SecretCollector runs CollectBootstrapSecrets periodically.
type SecretCollector struct {
	// Client lists pods and Secrets and deletes Secrets (see
	// CollectBootstrapSecrets for why it must see pods as they are).
	Client SecretCollectorClient
	// Interval between rounds; default one minute.
	Interval time.Duration
	// GracePeriod; default DefaultBootstrapSecretGracePeriod.
	GracePeriod time.Duration
	// Clock; default the real clock.
	Clock clock.WithTicker
	// Logger logs deletions and failures; default discards.
	Logger *slog.Logger
}

// Run collects every Interval until ctx is done, and returns nil then.
func (s *SecretCollector) Run(ctx context.Context) error {
	grace := s.GracePeriod
	if grace <= 0 {
		grace = DefaultBootstrapSecretGracePeriod
	}
	log := orDiscard(s.Logger)
	everyInterval(ctx, s.Clock, s.Interval, func(now time.Time) {
		deleted, err := CollectBootstrapSecrets(ctx, s.Client, now, grace)
		for _, d := range deleted {
			log.Info("deleted unused bootstrap Secret", "secret", d)
		}
		if err != nil && ctx.Err() == nil {
			log.Error("collecting bootstrap Secrets", "err", err)
		}
	})
	return nil
}

// everyInterval calls round every interval (default one minute) on clk
// (default the real clock) until ctx is done.
func everyInterval(ctx context.Context, clk clock.WithTicker, interval time.Duration, round func(now time.Time)) {
	if interval <= 0 {
		interval = time.Minute
	}
	if clk == nil {
		clk = clock.RealClock{}
	}
	t := clk.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		round(clk.Now())
	}
}

func orDiscard(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
