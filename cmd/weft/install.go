package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/manifests"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s"
)

// installOptions are `weft install`'s flags.
type installOptions struct {
	kubeconfig    string
	meshName      string
	meshNamespace string
	weftdImage    string
	envoyImage    string
	initImage     string
	permissive    bool
	egress        bool
	// timeout bounds the wait for weftd to be ready; 0 does not wait.
	timeout time.Duration
	// changed says whether a flag was given.
	changed func(flag string) bool
}

// The namespace and mesh name the manifests are written for; install rewrites
// them to the ones asked for.
const (
	manifestNamespace = "osm-system"
	manifestMeshName  = "--mesh-name=osm"
	manifestImage     = "ghcr.io/weft-mesh/weftd:latest"
	fieldOwner        = "weft-cli"
)

func newInstallCommand() *cobra.Command {
	o := installOptions{}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install the mesh's control plane: CRDs, weftd, its RBAC and webhooks, and a MeshConfig",
		Long: `install applies the CRDs, weftd's Deployment, Service and RBAC, and the webhook
configurations, server-side, so running it again upgrades in place. It creates the
mesh namespace and, if there is none, the MeshConfig osm-mesh-config in it; an existing
MeshConfig is left as it is.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.changed = cmd.Flags().Changed
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.kubeconfig, "kubeconfig", "", "kubeconfig file; empty means $KUBECONFIG or ~/.kube/config")
	f.StringVar(&o.meshName, "mesh-name", "osm", "the mesh's name")
	f.StringVar(&o.meshNamespace, "mesh-namespace", manifestNamespace, "the control plane's namespace")
	f.StringVar(&o.meshNamespace, "osm-namespace", manifestNamespace, "the control plane's namespace (OSM's flag name)")
	f.StringVar(&o.weftdImage, "weftd-image", manifestImage, "weftd's image")
	f.StringVar(&o.envoyImage, "envoy-image", "", "the sidecar's Envoy image (MeshConfig spec.sidecar.envoyImage)")
	f.StringVar(&o.initImage, "init-image", "", "the init container's image (MeshConfig spec.sidecar.initContainerImage)")
	f.BoolVar(&o.permissive, "enable-permissive-traffic-policy", false, "let every mesh identity reach every service")
	f.BoolVar(&o.egress, "enable-egress", false, "let meshed pods reach destinations outside the mesh")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for weftd to be ready before reporting failure (0: do not wait)")
	return cmd
}

func (o *installOptions) run(ctx context.Context, out io.Writer) error {
	c, err := newClient(o.kubeconfig)
	if err != nil {
		return err
	}
	objs, err := o.objects()
	if err != nil {
		return err
	}
	// A flag the existing MeshConfig contradicts stops the install before
	// anything is applied.
	want := o.meshConfig()
	current, err := existingMeshConfig(ctx, c, want)
	if err != nil {
		return err
	}
	if current != nil {
		if err := o.refuseChanges(current, want); err != nil {
			return err
		}
	}
	ns := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": o.meshNamespace}}}
	if err := apply(ctx, c, ns); err != nil {
		return err
	}
	// CRDs and the MeshConfig come before the webhook configurations: once
	// those exist, the API server asks weftd about every policy, and weftd may
	// still be starting.
	var crds []string
	for _, obj := range objs {
		if obj.GetKind() == "CustomResourceDefinition" {
			if err := apply(ctx, c, obj); err != nil {
				return err
			}
			crds = append(crds, obj.GetName())
		}
	}
	if err := waitForCRDs(ctx, c, crds); err != nil {
		return err
	}
	created := false
	if current == nil {
		if created, err = createMeshConfig(ctx, c, want); err != nil {
			return err
		}
	}
	for _, obj := range objs {
		if obj.GetKind() != "CustomResourceDefinition" {
			if err := apply(ctx, c, obj); err != nil {
				return err
			}
		}
	}
	fmt.Fprintf(out, "Applied %d objects for mesh [%s] in namespace [%s].\n", len(objs)+1, o.meshName, o.meshNamespace)
	if o.timeout > 0 {
		if err := waitForWeftd(ctx, c, o.meshNamespace, o.timeout); err != nil {
			return err
		}
		fmt.Fprintf(out, "weftd is ready.\n")
	}
	if created {
		fmt.Fprintf(out, "Created MeshConfig %s/%s.\n", o.meshNamespace, configv1alpha2.DefaultMeshConfigName)
	}
	fmt.Fprintf(out, "Add namespaces to the mesh with: weft namespace add <namespace> --mesh-name %s\n", o.meshName)
	return nil
}

// objects reads the embedded manifests, rewritten for this mesh's name,
// namespace and image: CRDs first, then weftd, then the webhooks.
func (o *installOptions) objects() ([]*unstructured.Unstructured, error) {
	var objs []*unstructured.Unstructured
	for _, dir := range []string{"crds", "weftd", "webhooks"} {
		entries, err := fs.ReadDir(manifests.Files, dir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			data, err := fs.ReadFile(manifests.Files, path.Join(dir, e.Name()))
			if err != nil {
				return nil, err
			}
			text := string(data)
			if dir != "crds" {
				text = strings.NewReplacer(
					manifestNamespace, o.meshNamespace,
					manifestMeshName, "--mesh-name="+o.meshName,
					manifestImage, o.weftdImage,
				).Replace(text)
			}
			decoded, err := k8s.DecodeYAML(strings.NewReader(text))
			if err != nil {
				return nil, fmt.Errorf("manifest %s/%s: %w", dir, e.Name(), err)
			}
			objs = append(objs, decoded...)
		}
	}
	return objs, nil
}

// meshConfig is the MeshConfig an install creates when there is none: every
// default, as OSM's install wrote its preset, and the flags' choices.
func (o *installOptions) meshConfig() *configv1alpha2.MeshConfig {
	mc := &configv1alpha2.MeshConfig{Spec: configv1alpha2.DefaultSpec()}
	mc.Name, mc.Namespace = configv1alpha2.DefaultMeshConfigName, o.meshNamespace
	mc.Spec.Sidecar.EnvoyImage = o.envoyImage
	mc.Spec.Sidecar.InitContainerImage = o.initImage
	mc.Spec.Traffic.EnablePermissiveTrafficPolicyMode = o.permissive
	mc.Spec.Traffic.EnableEgress = o.egress
	return mc
}

// existingMeshConfig reads the MeshConfig an install would create; nil when
// there is none (or no CRD for it yet). Existence is read rather than learnt
// from a create: a create of an existing object still goes through
// admission, which fails while weftd is down.
func existingMeshConfig(ctx context.Context, c client.Client, want *configv1alpha2.MeshConfig) (*configv1alpha2.MeshConfig, error) {
	var current configv1alpha2.MeshConfig
	err := c.Get(ctx, client.ObjectKeyFromObject(want), &current)
	switch {
	case err == nil:
		return &current, nil
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		return nil, nil
	}
	return nil, fmt.Errorf("reading MeshConfig %s/%s: %w", want.Namespace, want.Name, err)
}

// createMeshConfig creates mc; a user's edits are never overwritten by a
// reinstall, so one that appeared meanwhile is kept.
func createMeshConfig(ctx context.Context, c client.Client, mc *configv1alpha2.MeshConfig) (bool, error) {
	err := c.Create(ctx, mc)
	switch {
	case apierrors.IsAlreadyExists(err):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("creating MeshConfig %s/%s: %w", mc.Namespace, mc.Name, err)
	}
	return true, nil
}

// refuseChanges names the MeshConfig flags given that the existing
// MeshConfig does not already say.
func (o *installOptions) refuseChanges(current, want *configv1alpha2.MeshConfig) error {
	var differ []string
	for _, f := range []struct {
		flag string
		same bool
	}{
		{"envoy-image", current.Spec.Sidecar.EnvoyImage == want.Spec.Sidecar.EnvoyImage},
		{"init-image", current.Spec.Sidecar.InitContainerImage == want.Spec.Sidecar.InitContainerImage},
		{"enable-permissive-traffic-policy", current.Spec.Traffic.EnablePermissiveTrafficPolicyMode == want.Spec.Traffic.EnablePermissiveTrafficPolicyMode},
		{"enable-egress", current.Spec.Traffic.EnableEgress == want.Spec.Traffic.EnableEgress},
	} {
		if o.changed != nil && o.changed(f.flag) && !f.same {
			differ = append(differ, "--"+f.flag)
		}
	}
	if len(differ) == 0 {
		return nil
	}
	return fmt.Errorf("MeshConfig %s/%s exists and differs from %s; install never overwrites it: change it with `kubectl edit meshconfig %s -n %s`, or drop the flags",
		current.Namespace, current.Name, strings.Join(differ, ", "), current.Name, current.Namespace)
}

func apply(ctx context.Context, c client.Client, obj *unstructured.Unstructured) error {
	if err := c.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner(fieldOwner), client.ForceOwnership); err != nil {
		return fmt.Errorf("applying %s %s: %w", obj.GetKind(), obj.GetName(), err)
	}
	return nil
}

// waitForCRDs waits until the API server serves every CRD named.
func waitForCRDs(ctx context.Context, c client.Client, names []string) error {
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		for _, name := range names {
			var crd apiextensionsv1.CustomResourceDefinition
			if err := c.Get(ctx, client.ObjectKey{Name: name}, &crd); err != nil {
				return false, nil
			}
			established := false
			for _, cond := range crd.Status.Conditions {
				if cond.Type == apiextensionsv1.Established && cond.Status == apiextensionsv1.ConditionTrue {
					established = true
				}
			}
			if !established {
				return false, nil
			}
		}
		return true, nil
	})
}

// newClient returns a controller-runtime client that knows Weft's kinds and
// CRDs.
func newClient(kubeconfig string) (client.Client, error) {
	cfg, err := restConfig(kubeconfig)
	if err != nil {
		return nil, err
	}
	scheme := k8s.Scheme()
	if err := apiextensionsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}

// restConfig loads a kubeconfig: the file given, else $KUBECONFIG or
// ~/.kube/config, else the in-cluster configuration.
func restConfig(kubeconfig string) (*rest.Config, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, nil).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	return cfg, nil
}

// waitForWeftd waits until weftd's Deployment has an available, up-to-date
// replica, and says what it saw when it gives up.
func waitForWeftd(ctx context.Context, c client.Client, namespace string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	key := client.ObjectKey{Namespace: namespace, Name: "weftd"}
	var d appsv1.Deployment
	for {
		err := c.Get(ctx, key, &d)
		if err == nil && d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas > 0 && d.Status.AvailableReplicas > 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			state := "not found"
			if err == nil {
				state = fmt.Sprintf("%d of %d replicas available", d.Status.AvailableReplicas, ptrOr(d.Spec.Replicas, 1))
				for _, cond := range d.Status.Conditions {
					if cond.Status != corev1.ConditionTrue {
						state += fmt.Sprintf("; %s: %s", cond.Type, cond.Message)
					}
				}
			}
			return fmt.Errorf("weftd in namespace %s is not ready after %v (%s): see `kubectl -n %s describe deploy/weftd` and its pods' logs", namespace, timeout, state, namespace)
		case <-time.After(time.Second):
		}
	}
}

func ptrOr(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
