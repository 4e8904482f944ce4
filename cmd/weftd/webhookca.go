package main

import (
	"bytes"
	"context"
	"log/slog"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// syncWebhookCABundles writes the mesh bundle into the webhook configurations
// now and whenever the bundle changes, until ctx ends. A configuration that does
// not exist (not installed yet, or that webhook is off) is skipped.
func syncWebhookCABundles(ctx context.Context, c client.Client, meshName string, manager *ca.Manager, log *slog.Logger) {
	sub := manager.Subscribe()
	defer sub.Close()
	for {
		if err := patchWebhookCABundles(ctx, c, meshName, manager.Bundle()); err != nil {
			log.Error("updating the webhook configurations' caBundle", "error", err)
		}
		for {
			select {
			case <-ctx.Done():
				return
			case <-sub.Ready():
			}
			if sub.Take().BundleChanged {
				break
			}
		}
	}
}

func patchWebhookCABundles(ctx context.Context, c client.Client, meshName string, bundle []byte) error {
	var v admissionregistrationv1.ValidatingWebhookConfiguration
	if err := patchCABundle(ctx, c, mesh.ValidatingWebhookName(meshName), &v, bundle, func() (out []*admissionregistrationv1.WebhookClientConfig) {
		for i := range v.Webhooks {
			out = append(out, &v.Webhooks[i].ClientConfig)
		}
		return out
	}); err != nil {
		return err
	}
	var m admissionregistrationv1.MutatingWebhookConfiguration
	return patchCABundle(ctx, c, mesh.MutatingWebhookName(meshName), &m, bundle, func() (out []*admissionregistrationv1.WebhookClientConfig) {
		for i := range m.Webhooks {
			out = append(out, &m.Webhooks[i].ClientConfig)
		}
		return out
	})
}

// patchCABundle reads the named configuration into obj and patches the
// caBundle of every webhook that clientConfigs returns, if one differs.
func patchCABundle(ctx context.Context, c client.Client, name string, obj client.Object, bundle []byte, clientConfigs func() []*admissionregistrationv1.WebhookClientConfig) error {
	if err := c.Get(ctx, client.ObjectKey{Name: name}, obj); err != nil {
		return client.IgnoreNotFound(err)
	}
	patch := client.MergeFrom(obj.DeepCopyObject().(client.Object))
	changed := false
	for _, cc := range clientConfigs() {
		if !bytes.Equal(cc.CABundle, bundle) {
			cc.CABundle, changed = bundle, true
		}
	}
	if !changed {
		return nil
	}
	return c.Patch(ctx, obj, patch)
}
