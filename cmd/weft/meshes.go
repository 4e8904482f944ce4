package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// installedMesh is a control plane found in the cluster: a weftd Deployment,
// or an OSM controller (which a Weft install must not run beside).
type installedMesh struct {
	name, namespace string
	// enforceSingle: the mesh was installed to be the cluster's only one.
	enforceSingle bool
	osm           bool
	deployment    appsv1.Deployment
}

func (m installedMesh) String() string {
	kind := "mesh"
	if m.osm {
		kind = "OSM mesh"
	}
	return fmt.Sprintf("%s %s in namespace %s", kind, m.name, m.namespace)
}

// The labels the chart puts on weftd's Deployment.
const (
	labelMeshName          = "weft.io/mesh-name"
	labelEnforceSingleMesh = "weft.io/enforce-single-mesh"
)

// listMeshes finds weftd Deployments, and OSM controllers, in every
// namespace.
func listMeshes(ctx context.Context, c client.Client) ([]installedMesh, error) {
	var meshes []installedMesh
	var weftds appsv1.DeploymentList
	if err := c.List(ctx, &weftds, client.MatchingLabels{"app.kubernetes.io/name": "weftd"}); err != nil {
		return nil, fmt.Errorf("listing the cluster's meshes: %w", err)
	}
	for _, d := range weftds.Items {
		meshes = append(meshes, installedMesh{name: meshNameOf(d), namespace: d.Namespace,
			enforceSingle: d.Labels[labelEnforceSingleMesh] == "true", deployment: d})
	}
	// OSM labels its controller app=osm-controller, meshName=<name>.
	var osm appsv1.DeploymentList
	if err := c.List(ctx, &osm, client.MatchingLabels{"app": "osm-controller"}); err != nil {
		return nil, fmt.Errorf("listing OSM controllers: %w", err)
	}
	for _, d := range osm.Items {
		meshes = append(meshes, installedMesh{name: d.Labels["meshName"], namespace: d.Namespace,
			enforceSingle: d.Labels["enforceSingleMesh"] == "true", osm: true, deployment: d})
	}
	slices.SortFunc(meshes, func(a, b installedMesh) int {
		return strings.Compare(a.namespace+"/"+a.name, b.namespace+"/"+b.name)
	})
	return meshes, nil
}

// meshNameOf reads the mesh's name from weftd's label, or its --mesh-name
// flag ("osm" when absent, its default).
func meshNameOf(d appsv1.Deployment) string {
	if name := d.Labels[labelMeshName]; name != "" {
		return name
	}
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, arg := range c.Args {
			if name, ok := strings.CutPrefix(arg, "--mesh-name="); ok {
				return name
			}
		}
	}
	return "osm"
}

// checkMeshes refuses an install of mesh name in namespace that would
// collide with an installed mesh, or break a single-mesh promise (as OSM's
// preinstall checks). It reports whether this mesh is already installed
// there, which makes the install a rerun.
func checkMeshes(meshes []installedMesh, name, namespace string, enforceSingle bool) (rerun bool, err error) {
	var others, enforcing []string
	for _, m := range meshes {
		switch {
		case m.osm:
			return false, fmt.Errorf("%s is installed: the two would inject the same pods; uninstall it first (`osm uninstall mesh`, see docs/migration-from-osm.md)", m)
		case m.name == name && m.namespace == namespace:
			rerun = true
			continue
		case m.name == name:
			return false, fmt.Errorf("a mesh named %s is already installed in namespace %s: mesh names are cluster-wide (namespaces join a mesh by name); choose another --mesh-name", name, m.namespace)
		case m.namespace == namespace:
			return false, fmt.Errorf("namespace %s already holds mesh %s: one mesh per namespace", namespace, m.name)
		}
		others = append(others, m.String())
		if m.enforceSingle {
			enforcing = append(enforcing, m.String())
		}
	}
	if rerun {
		return true, nil
	}
	if len(enforcing) > 0 {
		return false, fmt.Errorf("%s enforces that it is the cluster's only mesh: no other mesh can be installed", strings.Join(enforcing, ", "))
	}
	if enforceSingle && len(others) > 0 {
		return false, fmt.Errorf("%s already installed, so a mesh enforcing that it is the only one cannot be: pass --enforce-single-mesh=false to run several", strings.Join(others, ", "))
	}
	return false, nil
}
