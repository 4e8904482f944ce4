package injector

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/weft-mesh/weft/pkg/mesh"
)

// Labels and annotations the injector reads or writes. The openservicemesh.io
// ones and osm-proxy-uuid are OSM v1.2's, kept so OSM users' namespaces,
// dashboards and tooling keep working.
const (
	// LabelMonitoredBy on a namespace names the mesh that monitors it.
	LabelMonitoredBy = "openservicemesh.io/monitored-by"
	// AnnotationSidecarInjection is "enabled" or "disabled", on a namespace (as
	// an annotation or a label) or on a pod; the pod's wins.
	AnnotationSidecarInjection = "openservicemesh.io/sidecar-injection"
	// AnnotationMetrics "enabled" on a namespace adds Prometheus scrape
	// annotations to its injected pods.
	AnnotationMetrics = "openservicemesh.io/metrics"
	// LabelProxyUUID on an injected pod (and on its bootstrap Secret) is the
	// proxy's ID: the <uuid> in its certificate's CN
	// <uuid>.sidecar.<sa>.<ns>.<trust-domain>.
	LabelProxyUUID = mesh.LabelProxyUUID
)

// Decision says whether a pod gets a sidecar, and why, for logs and tests.
type Decision struct {
	Inject bool
	Reason string
}

// Decide says whether a pod being created in ns gets a sidecar of the mesh
// named meshName. A pod is injected when its namespace is monitored by this
// mesh and either the pod's sidecar-injection annotation is enabled, or the pod
// has none and the namespace's annotation (or label) is enabled. hostNetwork
// pods, pods already injected and pods in the mesh's own namespace never are.
// An injection annotation or label that is neither enabled nor disabled is an
// error naming it: a typo must not silently leave a workload outside the mesh.
func Decide(meshName, meshNamespace string, ns *corev1.Namespace, pod *corev1.Pod) (Decision, error) {
	no := func(format string, args ...any) (Decision, error) {
		return Decision{Reason: fmt.Sprintf(format, args...)}, nil
	}
	if ns.Name == meshNamespace {
		return no("namespace %s is the mesh's own namespace", ns.Name)
	}
	if by, ok := ns.Labels[LabelMonitoredBy]; !ok || by != meshName {
		if !ok {
			return no("namespace %s is not monitored by a mesh (no %s label)", ns.Name, LabelMonitoredBy)
		}
		return no("namespace %s is monitored by mesh %q, not %q", ns.Name, by, meshName)
	}
	if pod.Spec.HostNetwork {
		return no("the pod uses the host's network")
	}
	if injected(pod) {
		return no("the pod already has a sidecar")
	}
	if v, ok := pod.Annotations[AnnotationSidecarInjection]; ok {
		enabled, err := parseInjection(v)
		if err != nil {
			return Decision{}, fmt.Errorf("pod annotation %s: %w", AnnotationSidecarInjection, err)
		}
		if enabled {
			return Decision{Inject: true, Reason: "the pod's annotation enables injection"}, nil
		}
		return no("the pod's annotation disables injection")
	}
	for _, src := range []struct {
		what   string
		values map[string]string
	}{{"annotation", ns.Annotations}, {"label", ns.Labels}} {
		v, ok := src.values[AnnotationSidecarInjection]
		if !ok {
			continue
		}
		enabled, err := parseInjection(v)
		if err != nil {
			return Decision{}, fmt.Errorf("namespace %s %s %s: %w", ns.Name, src.what, AnnotationSidecarInjection, err)
		}
		if enabled {
			return Decision{Inject: true, Reason: fmt.Sprintf("namespace %s's %s enables injection", ns.Name, src.what)}, nil
		}
		return no("namespace %s's %s disables injection", ns.Name, src.what)
	}
	return no("neither the pod nor namespace %s enables injection", ns.Name)
}

// parseInjection accepts what OSM accepted: enabled, yes, true and disabled,
// no, false, in any case.
func parseInjection(v string) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "enabled", "yes", "true":
		return true, nil
	case "disabled", "no", "false":
		return false, nil
	}
	return false, fmt.Errorf("%q is neither enabled nor disabled", v)
}

// injected reports whether the pod already carries a proxy: a proxy UUID
// label, or a container named envoy (a second one could not be added anyway).
func injected(pod *corev1.Pod) bool {
	if _, ok := pod.Labels[LabelProxyUUID]; ok {
		return true
	}
	for _, c := range pod.Spec.Containers {
		if c.Name == EnvoyContainerName {
			return true
		}
	}
	for _, c := range pod.Spec.InitContainers {
		if c.Name == InitContainerName {
			return true
		}
	}
	return false
}
