package k8s

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TemplateAnnotation marks a Pod that the files source made from a workload's
// pod template; its value is "<Kind>/<name>" of the workload.
const TemplateAnnotation = "weft.io/from-template"

// maxTemplatePods caps the Pods made from one workload, whatever its replicas say.
const maxTemplatePods = 100

// TemplatePodNames says how PodsFromWorkloads names the Pods it makes, for
// messages that ask for one.
const TemplatePodNames = "a Deployment's, ReplicaSet's or StatefulSet's pods are <name>-0, <name>-1..., a DaemonSet's <name>-template"

// PodsFromWorkloads makes the Pods a controller would make from Deployments,
// ReplicaSets, DaemonSets and StatefulSets, so that a folder of YAML (which has
// workloads, not Pods) still says which service account runs behind which
// Service. A StatefulSet's Pods are named <set>-0, <set>-1... with their hostname
// and subdomain set, as the StatefulSet controller names them; other workloads get
// one Pod named <workload>-template (DaemonSets) or <workload>-<i> (replicas).
// The Pods have no IP: endpoints still come only from EndpointSlices.
func PodsFromWorkloads(objs []runtime.Object) []runtime.Object {
	var pods []runtime.Object
	for _, o := range objs {
		switch w := o.(type) {
		case *appsv1.Deployment:
			pods = append(pods, templatePods("Deployment", w.ObjectMeta, w.Spec.Template, replicas(w.Spec.Replicas), "", "")...)
		case *appsv1.ReplicaSet:
			pods = append(pods, templatePods("ReplicaSet", w.ObjectMeta, w.Spec.Template, replicas(w.Spec.Replicas), "", "")...)
		case *appsv1.DaemonSet:
			pods = append(pods, templatePods("DaemonSet", w.ObjectMeta, w.Spec.Template, 1, "template", "")...)
		case *appsv1.StatefulSet:
			pods = append(pods, templatePods("StatefulSet", w.ObjectMeta, w.Spec.Template, replicas(w.Spec.Replicas), "", w.Spec.ServiceName)...)
		}
	}
	return pods
}

func replicas(r *int32) int {
	switch {
	case r == nil:
		return 1
	case *r < 0:
		return 0
	case *r > maxTemplatePods:
		return maxTemplatePods
	}
	return int(*r)
}

func templatePods(kind string, owner metav1.ObjectMeta, tmpl corev1.PodTemplateSpec, n int, suffix, subdomain string) []runtime.Object {
	var pods []runtime.Object
	for i := range n {
		name := fmt.Sprintf("%s-%d", owner.Name, i)
		if suffix != "" {
			name = owner.Name + "-" + suffix
		}
		p := &corev1.Pod{
			TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{
				Name:        name,
				Namespace:   owner.Namespace,
				Labels:      tmpl.Labels,
				Annotations: map[string]string{TemplateAnnotation: kind + "/" + owner.Name},
			},
			Spec: *tmpl.Spec.DeepCopy(),
		}
		for k, v := range tmpl.Annotations {
			p.Annotations[k] = v
		}
		if subdomain != "" {
			p.Spec.Hostname = name
			p.Spec.Subdomain = subdomain
		}
		pods = append(pods, p)
	}
	return pods
}
