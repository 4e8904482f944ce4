package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

// installOptions are `weft install`'s flags.
type installOptions struct {
	kube          kubeFlags
	meshNamespace string
	chart         chartFlags
	envoyImage    string
	initImage     string
	permissive    bool
	egress        bool
	enforceSingle bool
	atomic        bool
	// timeout bounds the wait for weftd to be ready; 0 does not wait.
	timeout time.Duration
	// changed says whether a flag was given.
	changed func(flag string) bool
}

const (
	defaultMeshNamespace = "osm-system"
	fieldOwner           = "weft-cli"
)

func newInstallCommand() *cobra.Command {
	o := installOptions{}
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Install the mesh's control plane with the embedded Helm chart",
		Long: `install installs the embedded Helm chart as the release <mesh-name> in the mesh
namespace: weftd's Deployment, Service and RBAC, the webhook configurations and the
MeshConfig osm-mesh-config. The CRDs are applied first, server-side, so that they are
current. Then it waits up to --timeout for weftd to be ready. The images are tagged with
this CLI's version ("latest" for a development build) unless --set image.tag says otherwise.

Running it again for the same mesh upgrades the release to the values given (flags, --set
and --values; "weft mesh upgrade" keeps the release's values instead). A MeshConfig that
exists but belongs to no release is kept as it is, and MeshConfig values are then refused.

One mesh per cluster, as OSM: --enforce-single-mesh (default true) refuses to install
beside another mesh, and a mesh installed with it refuses any other. An OSM control plane
in the cluster is always refused: uninstall it first.`,
		Example: `  # Install the mesh osm in osm-system, as "osm install" did
  weft install

  # Install with permissive mode off, OSM-style values, and a second mesh allowed
  weft install --mesh-name blue --osm-namespace blue-system --enforce-single-mesh=false \
    --set osm.enablePermissiveTrafficPolicy=false

  # Print the manifests instead
  weft install --dry-run > weft.yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o.changed = cmd.Flags().Changed
			return o.run(cmd.Context(), cmd.OutOrStdout())
		},
	}
	f := cmd.Flags()
	o.kube.add(cmd)
	f.StringVar(&o.meshNamespace, "mesh-namespace", defaultMeshNamespace, "the control plane's namespace")
	f.StringVar(&o.meshNamespace, "osm-namespace", defaultMeshNamespace, "the control plane's namespace (OSM's flag name)")
	o.chart.add(f)
	f.StringVar(&o.envoyImage, "envoy-image", "", "the sidecar's Envoy image (value meshConfig.sidecarImage)")
	f.StringVar(&o.initImage, "init-image", "", "the init container's image (value meshConfig.initContainerImage)")
	f.BoolVar(&o.permissive, "enable-permissive-traffic-policy", true, "let every mesh identity reach every service (value meshConfig.enablePermissiveTrafficPolicyMode)")
	f.BoolVar(&o.egress, "enable-egress", true, "let meshed pods reach destinations outside the mesh (value meshConfig.enableEgress)")
	f.BoolVar(&o.enforceSingle, "enforce-single-mesh", true, "refuse to install beside another mesh, and make this mesh refuse others")
	f.BoolVar(&o.atomic, "atomic", false, "if the install fails or weftd is not ready within --timeout, remove what it made")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for weftd to be ready before reporting failure (0: do not wait)")
	return cmd
}

// values are the chart values of this install: the user's (--values, then
// --set), then the flags given, which win.
func (o *installOptions) values() (map[string]any, error) {
	vals, err := o.chart.userValues()
	if err != nil {
		return nil, err
	}
	if name, ok := vals["meshName"]; ok && name != o.kube.meshName {
		return nil, fmt.Errorf("chart value meshName=%v: the mesh's name is --mesh-name", name)
	}
	vals["meshName"] = o.kube.meshName
	defaultImageTag(vals)
	flags := []struct {
		flag, key string
		value     any
	}{
		{"envoy-image", "meshConfig.sidecarImage", o.envoyImage},
		{"init-image", "meshConfig.initContainerImage", o.initImage},
		{"enable-permissive-traffic-policy", "meshConfig.enablePermissiveTrafficPolicyMode", o.permissive},
		{"enable-egress", "meshConfig.enableEgress", o.egress},
		{"enforce-single-mesh", "enforceSingleMesh", o.enforceSingle},
	}
	for _, f := range flags {
		// enforce-single-mesh is always written: its default differs from
		// the chart's so that `helm install` alone never refuses a mesh.
		if o.changed(f.flag) || f.flag == "enforce-single-mesh" {
			setPath(vals, f.key, f.value)
		}
	}
	return vals, nil
}

func (o *installOptions) run(ctx context.Context, out io.Writer) error {
	ch, err := loadChart()
	if err != nil {
		return err
	}
	vals, err := o.values()
	if err != nil {
		return err
	}
	if o.chart.dryRun {
		return o.printManifests(ch, vals, out)
	}
	c, err := o.kube.objectClient()
	if err != nil {
		return err
	}
	meshes, err := listMeshes(ctx, c)
	if err != nil {
		return err
	}
	// Whether this is a rerun is the release's to say (below): a failed
	// install leaves a release without a Deployment.
	if _, err := checkMeshes(meshes, o.kube.meshName, o.meshNamespace, o.enforceSingle); err != nil {
		return err
	}
	if err := keepForeignMeshConfig(ctx, c, o.meshNamespace, o.kube.meshName, vals, out); err != nil {
		return err
	}
	namespaceExisted, err := exists(ctx, c, &corev1.Namespace{}, client.ObjectKey{Name: o.meshNamespace})
	if err != nil {
		return err
	}
	createdCRDs, err := applyCRDs(ctx, c, ch)
	if err != nil {
		return err
	}
	cfg, err := helmConfiguration(&o.kube, o.meshNamespace)
	if err != nil {
		return err
	}
	_, err = action.NewGet(cfg).Run(o.kube.meshName)
	rerun := err == nil
	if err != nil && !errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("reading release %s in namespace %s: %w", o.kube.meshName, o.meshNamespace, err)
	}

	var rel *release.Release
	if rerun {
		up := action.NewUpgrade(cfg)
		up.Namespace, up.SkipCRDs = o.meshNamespace, true
		rel, err = up.RunWithContext(ctx, o.kube.meshName, ch, vals)
	} else {
		in := action.NewInstall(cfg)
		in.ReleaseName, in.Namespace, in.CreateNamespace, in.SkipCRDs = o.kube.meshName, o.meshNamespace, true, true
		rel, err = in.RunWithContext(ctx, ch, vals)
	}
	if err == nil {
		fmt.Fprintf(out, "Release %s (revision %d) applied in namespace %s.\n", rel.Name, rel.Version, rel.Namespace)
		if o.timeout > 0 {
			err = waitForWeftd(ctx, c, o.meshNamespace, o.timeout)
		}
	}
	if err != nil {
		if !o.atomic {
			return err
		}
		if rerun {
			return errors.Join(err, rollBack(cfg, o.kube.meshName, out))
		}
		return errors.Join(err, o.removeFailedInstall(ctx, c, cfg, namespaceExisted, createdCRDs, out))
	}
	if o.timeout > 0 {
		fmt.Fprintln(out, "weftd is ready.")
	}
	fmt.Fprintf(out, "Weft installed in namespace [%s] with mesh name [%s].\n", o.meshNamespace, o.kube.meshName)
	fmt.Fprintf(out, "Add namespaces to the mesh with: weft namespace add <namespace> --mesh-name %s\n", o.kube.meshName)
	return nil
}

// printManifests renders the release as an install would, without a
// cluster, CRDs first.
func (o *installOptions) printManifests(ch *chart.Chart, vals map[string]any, out io.Writer) error {
	in := action.NewInstall(&action.Configuration{})
	in.ReleaseName, in.Namespace = o.kube.meshName, o.meshNamespace
	in.DryRun, in.ClientOnly, in.IncludeCRDs = true, true, true
	rel, err := in.Run(ch, vals)
	if err != nil {
		return err
	}
	// Helm's install creates the namespace itself; a file applied with
	// kubectl needs it first.
	fmt.Fprintf(out, "---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n", o.meshNamespace)
	_, err = io.WriteString(out, strings.TrimPrefix(rel.Manifest, "\n"))
	return err
}

// keepForeignMeshConfig: a MeshConfig in the mesh namespace that no release
// of this mesh owns (the OSM add-on's, a previous install's, a user's) is
// kept as it is. The chart then leaves it out, and a MeshConfig value the
// user set is refused rather than ignored.
func keepForeignMeshConfig(ctx context.Context, c client.Client, namespace, meshName string, vals map[string]any, out io.Writer) error {
	var mc configv1alpha2.MeshConfig
	err := c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: configv1alpha2.DefaultMeshConfigName}, &mc)
	switch {
	case apierrors.IsNotFound(err) || meta.IsNoMatchError(err):
		return nil
	case err != nil:
		return fmt.Errorf("reading MeshConfig %s/%s: %w", namespace, configv1alpha2.DefaultMeshConfigName, err)
	case mc.Annotations["meta.helm.sh/release-name"] == meshName && mc.Annotations["meta.helm.sh/release-namespace"] == namespace:
		return nil
	}
	if set, ok := vals["meshConfig"].(map[string]any); ok && len(set) > 0 {
		var keys []string
		for k := range set {
			keys = append(keys, "meshConfig."+k)
		}
		return fmt.Errorf("MeshConfig %s/%s exists and belongs to no release of mesh %s: it is kept as it is, so %s cannot be applied; change it with `kubectl edit meshconfig %s -n %s`, or drop those values",
			namespace, mc.Name, meshName, strings.Join(keys, ", "), mc.Name, namespace)
	}
	setPath(vals, "meshConfig.create", false)
	fmt.Fprintf(out, "Keeping MeshConfig %s/%s, which belongs to no release.\n", namespace, mc.Name)
	return nil
}

// removeFailedInstall undoes a first install: the release, then the CRDs and
// the namespace if the install made them.
func (o *installOptions) removeFailedInstall(ctx context.Context, c client.Client, cfg *action.Configuration, namespaceExisted bool, createdCRDs []string, out io.Writer) error {
	fmt.Fprintf(out, "--atomic: removing what the install made.\n")
	var errs []error
	un := action.NewUninstall(cfg)
	un.IgnoreNotFound = true
	if _, err := un.Run(o.kube.meshName); err != nil {
		errs = append(errs, fmt.Errorf("uninstalling release %s: %w", o.kube.meshName, err))
	}
	for _, name := range createdCRDs {
		crd := &apiextensionsv1.CustomResourceDefinition{}
		crd.Name = name
		if err := c.Delete(ctx, crd); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting CRD %s: %w", name, err))
		}
	}
	if !namespaceExisted {
		ns := &corev1.Namespace{}
		ns.Name = o.meshNamespace
		if err := c.Delete(ctx, ns); client.IgnoreNotFound(err) != nil {
			errs = append(errs, fmt.Errorf("deleting namespace %s: %w", ns.Name, err))
		}
	}
	return errors.Join(errs...)
}

// rollBack returns a release to its previous revision.
func rollBack(cfg *action.Configuration, name string, out io.Writer) error {
	fmt.Fprintf(out, "--atomic: rolling release %s back to its previous revision.\n", name)
	if err := action.NewRollback(cfg).Run(name); err != nil {
		return fmt.Errorf("rolling back release %s: %w", name, err)
	}
	return nil
}

func exists(ctx context.Context, c client.Client, obj client.Object, key client.ObjectKey) (bool, error) {
	err := c.Get(ctx, key, obj)
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("reading %s: %w", key, err)
	}
	return true, nil
}

// waitForWeftd waits until every replica of weftd's Deployment is updated
// and available, and says what it saw when it gives up.
func waitForWeftd(ctx context.Context, c client.Client, namespace string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	key := client.ObjectKey{Namespace: namespace, Name: "weftd"}
	var d appsv1.Deployment
	for {
		err := c.Get(ctx, key, &d)
		want := ptrOr(d.Spec.Replicas, 1)
		if err == nil && d.Status.ObservedGeneration >= d.Generation && d.Status.UpdatedReplicas >= want && d.Status.AvailableReplicas >= want {
			return nil
		}
		select {
		case <-ctx.Done():
			state := "not found"
			if err == nil {
				state = fmt.Sprintf("%d of %d replicas available", d.Status.AvailableReplicas, want)
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
