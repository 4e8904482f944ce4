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
	"helm.sh/helm/v3/pkg/storage/driver"
	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

func newMeshCommand() *cobra.Command {
	return parent(&cobra.Command{
		Use:   "mesh",
		Short: "List and upgrade the meshes installed in the cluster",
		Example: `  weft mesh list
  weft mesh upgrade --mesh-name blue --osm-namespace blue-system`,
	}, newMeshListCommand(), newMeshUpgradeCommand())
}

func newMeshListCommand() *cobra.Command {
	var k kubeFlags
	var o outputFlags
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List the installed control planes: mesh name, namespace, chart version, image and readiness",
		Long: `list finds the control planes in every namespace: weftd Deployments, and OSM controllers
(which a Weft mesh must not run beside). -o json|yaml prints those Deployments, as kubectl
would, with the mesh's name in the label weft.io/mesh-name and its chart in helm.sh/chart.`,
		Example: `  weft mesh list

  # With the Deployment of each control plane
  weft mesh list -o wide

  # The control planes' Deployments, for scripts
  weft mesh list -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := k.objectClient()
			if err != nil {
				return err
			}
			meshes, err := listMeshes(cmd.Context(), c)
			if err != nil {
				return err
			}
			if len(meshes) == 0 && o.isTable() {
				fmt.Fprintln(cmd.OutOrStdout(), "No mesh control planes found")
				return nil
			}
			list := &appsv1.DeploymentList{}
			for _, m := range meshes {
				list.Items = append(list.Items, m.deployment)
			}
			return o.printList(cmd.OutOrStdout(), meshTable(meshes), list)
		},
	}
	k.addCluster(cmd)
	o.add(cmd)
	return cmd
}

// meshTable is mesh list's table; -o wide adds the columns of priority 1.
func meshTable(meshes []installedMesh) *metav1.Table {
	t := &metav1.Table{ColumnDefinitions: []metav1.TableColumnDefinition{
		{Name: "Mesh Name", Type: "string"},
		{Name: "Namespace", Type: "string"},
		{Name: "Chart", Type: "string"},
		{Name: "Image", Type: "string"},
		{Name: "Ready", Type: "string"},
		{Name: "Single Mesh", Type: "boolean"},
		{Name: "Deployment", Type: "string", Priority: 1},
		{Name: "Age", Type: "string", Priority: 1},
	}}
	for _, m := range meshes {
		chart := m.deployment.Labels["helm.sh/chart"]
		if m.osm {
			chart = "OSM"
		}
		t.Rows = append(t.Rows, metav1.TableRow{Cells: []any{
			m.name, m.namespace, chart, imageOf(m.deployment),
			fmt.Sprintf("%d/%d", m.deployment.Status.ReadyReplicas, ptrOr(m.deployment.Spec.Replicas, 1)),
			m.enforceSingle, m.deployment.Name, translateTimestampSince(m.deployment.CreationTimestamp),
		}})
	}
	return t
}

// translateTimestampSince is an object's age as kubectl prints it.
func translateTimestampSince(ts metav1.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(ts.Time))
}

func imageOf(d appsv1.Deployment) string {
	if cs := d.Spec.Template.Spec.Containers; len(cs) > 0 {
		return cs[0].Image
	}
	return ""
}

type upgradeOptions struct {
	kube          kubeFlags
	meshNamespace string
	chart         chartFlags
	atomic        bool
	timeout       time.Duration
}

func newMeshUpgradeCommand() *cobra.Command {
	var o upgradeOptions
	cmd := &cobra.Command{
		Use:   "upgrade",
		Short: "Upgrade a mesh's release to this CLI's chart, keeping its values",
		Long: `upgrade applies the CRDs of this CLI's chart, server-side, then upgrades the mesh's
Helm release to the chart, keeping the values it was installed with and applying --set and
--values over them, and waits up to --timeout for weftd to be ready. The images become this
CLI's version unless --set image.tag says otherwise.

OSM's "mesh upgrade" reset the values; here they are kept, because the chart owns the
MeshConfig: resetting them would turn off what the install turned on. The MeshConfig is
patched with the fields whose values changed only, so edits made with kubectl to the others
are kept.`,
		Example: `  # Upgrade the mesh osm in osm-system to this CLI's version
  weft mesh upgrade

  # Upgrade and run two weftd replicas
  weft mesh upgrade --mesh-name blue --osm-namespace blue-system --set replicaCount=2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), cmd.OutOrStdout()) },
	}
	f := cmd.Flags()
	o.kube.add(cmd)
	f.StringVar(&o.meshNamespace, "mesh-namespace", defaultMeshNamespace, "the control plane's namespace")
	f.StringVar(&o.meshNamespace, "osm-namespace", defaultMeshNamespace, "the control plane's namespace (OSM's flag name)")
	o.chart.add(f)
	f.BoolVar(&o.atomic, "atomic", false, "if the upgrade fails or weftd is not ready within --timeout, roll the release back")
	f.DurationVar(&o.timeout, "timeout", 5*time.Minute, "how long to wait for weftd to be ready before reporting failure (0: do not wait)")
	return cmd
}

func (o *upgradeOptions) run(ctx context.Context, out io.Writer) error {
	ch, err := loadChart()
	if err != nil {
		return err
	}
	vals, err := o.chart.userValues()
	if err != nil {
		return err
	}
	if name, ok := vals["meshName"]; ok && name != o.kube.meshName {
		return fmt.Errorf("chart value meshName=%v: a mesh cannot be renamed by an upgrade", name)
	}
	defaultImageTag(vals)
	cfg, err := helmConfiguration(&o.kube, o.meshNamespace)
	if err != nil {
		return err
	}
	if _, err := action.NewGet(cfg).Run(o.kube.meshName); errors.Is(err, driver.ErrReleaseNotFound) {
		return fmt.Errorf("no mesh %s in namespace %s (no Helm release %s there): install it with `weft install`", o.kube.meshName, o.meshNamespace, o.kube.meshName)
	} else if err != nil {
		return fmt.Errorf("reading release %s in namespace %s: %w", o.kube.meshName, o.meshNamespace, err)
	}
	up := action.NewUpgrade(cfg)
	up.Namespace, up.SkipCRDs, up.ReuseValues = o.meshNamespace, true, true
	if o.chart.dryRun {
		up.DryRun = true
		rel, err := up.RunWithContext(ctx, o.kube.meshName, ch, vals)
		if err != nil {
			return err
		}
		_, err = io.WriteString(out, strings.TrimPrefix(rel.Manifest, "\n"))
		return err
	}
	c, err := o.kube.objectClient()
	if err != nil {
		return err
	}
	if _, err := applyCRDs(ctx, c, ch); err != nil {
		return err
	}
	rel, err := up.RunWithContext(ctx, o.kube.meshName, ch, vals)
	if err == nil {
		fmt.Fprintf(out, "Release %s upgraded to revision %d.\n", rel.Name, rel.Version)
		if o.timeout > 0 {
			err = waitForWeftd(ctx, c, o.meshNamespace, o.timeout)
		}
	}
	if err != nil {
		if o.atomic {
			return errors.Join(err, rollBack(cfg, o.kube.meshName, out))
		}
		return err
	}
	fmt.Fprintf(out, "Weft upgraded mesh [%s] in namespace [%s].\n", o.kube.meshName, o.meshNamespace)
	return nil
}
