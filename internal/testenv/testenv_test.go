package testenv

import (
	"context"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// TestControllerManagerRunsControllers shows what WithControllerManager is for:
// default service accounts appear, Deployments make Pods, and namespaces finish
// deleting.
func TestControllerManagerRunsControllers(t *testing.T) {
	env := Start(t, WithControllerManager())
	ctx := context.Background()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "testenv-kcm"}}
	if err := env.Client.Create(ctx, ns); err != nil {
		t.Fatal(err)
	}

	Eventually(t, "the default service account appears", func() bool {
		return env.Client.Get(ctx, client.ObjectKey{Namespace: ns.Name, Name: "default"}, &corev1.ServiceAccount{}) == nil
	})

	labels := map[string]string{"app": "bookstore"}
	deploy := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bookstore", Namespace: ns.Name},
		Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "bookstore:v1"}}},
			},
		},
	}
	if err := env.Client.Create(ctx, deploy); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the Deployment makes a Pod", func() bool {
		var pods corev1.PodList
		return env.Client.List(ctx, &pods, client.InNamespace(ns.Name)) == nil && len(pods.Items) == 1
	})

	if err := env.Client.Delete(ctx, ns); err != nil {
		t.Fatal(err)
	}
	Eventually(t, "the namespace finishes deleting", func() bool {
		return apierrors.IsNotFound(env.Client.Get(ctx, client.ObjectKeyFromObject(ns), &corev1.Namespace{}))
	})
}
