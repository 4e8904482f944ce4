package main

import (
	"context"
	"fmt"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// rootTrustedElsewhere says what in the cluster still trusts a mesh root, for
// a weftd that finds its root Secret missing: injected pods of the mesh's
// namespaces, whose proxies hold certificates of that root, and, when weftd
// keeps the webhooks' caBundle itself (webhookCABundles), a caBundle in its
// webhook configurations (cluster-scoped, so only weftd or an administrator
// wrote it). It returns "" when nothing does (a first install).
func rootTrustedElsewhere(c client.Client, meshName string, webhookCABundles bool) func(context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		for _, w := range []struct {
			name string
			obj  client.Object
		}{
			{mesh.ValidatingWebhookName(meshName), &admissionregistrationv1.ValidatingWebhookConfiguration{}},
			{mesh.MutatingWebhookName(meshName), &admissionregistrationv1.MutatingWebhookConfiguration{}},
		} {
			if !webhookCABundles {
				break
			}
			err := c.Get(ctx, client.ObjectKey{Name: w.name}, w.obj)
			if apierrors.IsNotFound(err) {
				continue
			}
			if err != nil {
				return "", fmt.Errorf("reading webhook configuration %s: %w", w.name, err)
			}
			if hasCABundle(w.obj) {
				return "the caBundle of webhook configuration " + w.name, nil
			}
		}
		var namespaces corev1.NamespaceList
		if err := c.List(ctx, &namespaces, client.MatchingLabels{injector.LabelMonitoredBy: meshName}); err != nil {
			return "", fmt.Errorf("listing the mesh's namespaces: %w", err)
		}
		for _, ns := range namespaces.Items {
			var pods corev1.PodList
			if err := c.List(ctx, &pods, client.InNamespace(ns.Name), client.HasLabels{injector.LabelProxyUUID}, client.Limit(1)); err != nil {
				return "", fmt.Errorf("listing injected pods of namespace %s: %w", ns.Name, err)
			}
			if len(pods.Items) > 0 {
				return fmt.Sprintf("injected pods of the mesh (for example %s/%s)", ns.Name, pods.Items[0].Name), nil
			}
		}
		return "", nil
	}
}

func hasCABundle(obj client.Object) bool {
	switch w := obj.(type) {
	case *admissionregistrationv1.ValidatingWebhookConfiguration:
		for _, h := range w.Webhooks {
			if len(h.ClientConfig.CABundle) > 0 {
				return true
			}
		}
	case *admissionregistrationv1.MutatingWebhookConfiguration:
		for _, h := range w.Webhooks {
			if len(h.ClientConfig.CABundle) > 0 {
				return true
			}
		}
	}
	return false
}
