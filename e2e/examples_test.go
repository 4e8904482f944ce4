package e2e

import (
	"context"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/manifests"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/validation"
)

// TestManifestsAndExamplesApply applies the CRDs, weftd's deployment, and
// then every example to a
// real API server with the policy webhook serving, as a user would with
// `kubectl apply --dry-run=server`.
func TestManifestsAndExamplesApply(t *testing.T) {
	env := testenv.Start(t, testenv.WithWebhooks(testenv.ValidatingWebhooks), testenv.WithGatewayAPI())
	env.ServeWebhooks(t, map[string]http.Handler{validation.Path: validation.NewWebhook(env.Client).HTTPHandler()})
	ctx := context.Background()

	crds := filepath.Join(env.RepoRoot, "manifests", "crds")
	// The chart's objects (the webhook configurations are installed by
	// testenv itself, rewritten to reach the test's server).
	chart, err := manifests.Chart()
	if err != nil {
		t.Fatal(err)
	}
	deploy, err := manifests.Render(chart, nil, "osm-system")
	if err != nil {
		t.Fatal(err)
	}
	examples := yamlFiles(t, filepath.Join(env.RepoRoot, "examples"))

	// Dry runs do not create namespaces, so the examples' own namespaces are
	// created for real first.
	for _, f := range examples {
		for _, obj := range decode(t, f) {
			if obj.GetKind() != "Namespace" {
				continue
			}
			ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: obj.GetName()}}
			if err := env.Client.Create(ctx, ns); client.IgnoreAlreadyExists(err) != nil {
				t.Fatalf("creating namespace %s: %v", obj.GetName(), err)
			}
		}
	}

	t.Run("server-side dry run of every object", func(t *testing.T) {
		for _, obj := range deploy {
			if strings.HasSuffix(obj.GetKind(), "WebhookConfiguration") {
				continue // installed by testenv, pointing at the test's server
			}
			err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("weft-e2e"), client.ForceOwnership, client.DryRunAll)
			if err != nil {
				t.Errorf("chart: %s %s/%s: %v", obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
			}
		}
		for _, f := range append(yamlFiles(t, crds), examples...) {
			for _, obj := range decode(t, f) {
				err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("weft-e2e"), client.ForceOwnership, client.DryRunAll)
				if err != nil {
					t.Errorf("%s: %s %s/%s: %v", rel(env.RepoRoot, f), obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
				}
			}
		}
	})

	t.Run("kubectl apply --dry-run=server", func(t *testing.T) {
		kubectl, err := exec.LookPath("kubectl")
		if err != nil {
			t.Skip("kubectl is not installed; the server-side dry run above covers the same objects")
		}
		for _, dir := range []string{crds, filepath.Join(env.RepoRoot, "examples")} {
			cmd := exec.Command(kubectl, "--kubeconfig", env.KubeconfigPath, "apply", "--dry-run=server", "--recursive", "-f", dir)
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Errorf("kubectl apply --dry-run=server -f %s: %v\n%s", rel(env.RepoRoot, dir), err, out)
			}
		}
	})
}

func yamlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	if len(files) == 0 {
		t.Fatalf("no YAML files under %s", dir)
	}
	return files
}

func decode(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := k8s.DecodeYAMLFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func rel(root, path string) string {
	if r, err := filepath.Rel(root, path); err == nil {
		return r
	}
	return path
}
