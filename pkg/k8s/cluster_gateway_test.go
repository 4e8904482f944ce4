package k8s_test

import (
	"context"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"

	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/pkg/k8s"
)

// With Gateway API's CRDs installed but weftd's RBAC not granting them (a
// chart older than GAMMA), the cluster source leaves them out instead of
// waiting forever for informers that cannot list.
func TestClusterSourceSkipsGatewayKindsItMayNotWatch(t *testing.T) {
	env := testenv.Start(t, testenv.WithGatewayAPI())
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	read := []string{"get", "list", "watch"}
	role := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "pre-gamma-weftd"}, Rules: []rbacv1.PolicyRule{
		{APIGroups: []string{""}, Resources: []string{"namespaces", "pods", "services", "serviceaccounts"}, Verbs: read},
		{APIGroups: []string{"discovery.k8s.io"}, Resources: []string{"endpointslices"}, Verbs: read},
		{APIGroups: []string{"access.smi-spec.io", "specs.smi-spec.io", "split.smi-spec.io", "policy.openservicemesh.io", "config.openservicemesh.io"},
			Resources: []string{"*"}, Verbs: read},
	}}
	binding := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "pre-gamma-weftd"},
		RoleRef:  rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects: []rbacv1.Subject{{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: "pre-gamma-weftd"}}}
	if err := env.Client.Create(ctx, role); err != nil {
		t.Fatal(err)
	}
	if err := env.Client.Create(ctx, binding); err != nil {
		t.Fatal(err)
	}
	cfg := rest.CopyConfig(env.Config)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "pre-gamma-weftd"}
	announced := make(chan *k8s.State, 1)
	src := &k8s.ClusterSource{Config: cfg, QuietWindow: 50 * time.Millisecond, MaxDelay: 500 * time.Millisecond,
		Options: k8s.Options{MeshName: "osm", MeshNamespace: "osm-system"}}
	done := make(chan error, 1)
	go func() {
		done <- src.Run(ctx, func(s *k8s.State) {
			select {
			case announced <- s:
			default:
			}
		})
	}()
	defer func() { cancel(); <-done }()
	select {
	case <-announced:
	case err := <-done:
		t.Fatalf("the source stopped: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("no State announced: the source waits on informers it may not run")
	}
}
