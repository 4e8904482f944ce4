package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/weft-mesh/weft/internal/testenv"
)

// TestMain runs the CLI's main when re-executed by a test, so that exit
// codes are those a user sees.
func TestMain(m *testing.M) {
	if os.Getenv("WEFT_TEST_RUN_MAIN") == "1" {
		os.Args = append([]string{"weft"}, strings.Fields(os.Getenv("WEFT_TEST_ARGS"))...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// runMain runs the CLI as a process and returns its exit code and output.
func runMain(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "WEFT_TEST_RUN_MAIN=1", "WEFT_TEST_ARGS="+strings.Join(args, " "))
	out, err := cmd.CombinedOutput()
	if exit, ok := err.(*exec.ExitError); ok {
		return exit.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

func TestUnknownSubcommandsFail(t *testing.T) {
	for _, args := range [][]string{{"foo"}, {"mesh", "foo"}, {"namespace", "foo"}, {"proxy", "foo"}, {"metrics", "foo"}, {"uninstall", "foo"}} {
		t.Run(strings.Join(args, " ")+" exits non-zero", func(t *testing.T) {
			code, out := runMain(t, args...)
			if code == 0 || !strings.Contains(out, `unknown command "foo"`) {
				t.Errorf("exit %d:\n%s", code, out)
			}
		})
	}
	t.Run("a parent alone prints its help and exits 0", func(t *testing.T) {
		code, out := runMain(t, "mesh")
		if code != 0 || !strings.Contains(out, "Available Commands:") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})
}

func TestEveryCommandHasExamples(t *testing.T) {
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		if c.Name() != "help" && c.Name() != "completion" && !strings.HasPrefix(c.CommandPath(), "weft completion") && c.Example == "" {
			t.Errorf("%q has no Example", c.CommandPath())
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCommand())
}

func TestVersionClientOnly(t *testing.T) {
	for _, flag := range []string{"--client", "--client-only"} {
		code, out := runMain(t, "version", flag, "--kubeconfig", "/nonexistent")
		if code != 0 || strings.TrimSpace(out) != "weft dev (commit unknown)" {
			t.Errorf("version %s: exit %d:\n%s", flag, code, out)
		}
	}
}

// TestClusterFlags runs the verbs with kubectl's flags against a real API
// server: --context picks a context of a kubeconfig, --as impersonates, -o
// prints the listed objects.
func TestClusterFlags(t *testing.T) {
	env := testenv.Start(t)
	ctx := context.Background()
	for _, ns := range []*corev1.Namespace{
		{ObjectMeta: metav1.ObjectMeta{Name: "blue-system"}},
		{ObjectMeta: metav1.ObjectMeta{Name: "bookstore", Labels: map[string]string{monitoredByLabel: "osm"},
			Annotations: map[string]string{injectionAnnotation: "enabled"}}},
	} {
		if err := env.Client.Create(ctx, ns); err != nil {
			t.Fatal(err)
		}
	}
	replicas := int32(1)
	weftd := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Namespace: "blue-system", Name: "weftd", Labels: map[string]string{
			"app.kubernetes.io/name": "weftd", labelMeshName: "blue", "helm.sh/chart": "weft-0.3.1"}},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "weftd"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "weftd"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "weftd", Image: "ghcr.io/weft-mesh/weftd:0.3.1"}}},
			},
		},
	}
	if err := env.Client.Create(ctx, weftd); err != nil {
		t.Fatal(err)
	}
	// Two contexts: "cluster", the test's API server, and "broken", the
	// current one, at an address nothing answers on.
	kubeconfig := twoContexts(t, env.KubeconfigPath)
	weft := func(args ...string) (string, error) {
		var out bytes.Buffer
		cmd := newRootCommand()
		cmd.SetArgs(append(args, "--kubeconfig", kubeconfig))
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		err := cmd.Execute()
		return out.String(), err
	}

	t.Run("--context picks the kubeconfig's context", func(t *testing.T) {
		if _, err := weft("namespace", "list"); err == nil {
			t.Error("the current context, broken, answered")
		}
		out, err := weft("namespace", "list", "--context", "cluster")
		if err != nil || !strings.Contains(out, "bookstore") {
			t.Errorf("%v:\n%s", err, out)
		}
	})

	t.Run("--cluster and --user pick the kubeconfig's parts", func(t *testing.T) {
		out, err := weft("mesh", "list", "--cluster", "cluster", "--user", "admin")
		if err != nil || !strings.Contains(out, "blue-system") {
			t.Errorf("%v:\n%s", err, out)
		}
	})

	t.Run("--as impersonates, and the API server refuses who may not list", func(t *testing.T) {
		_, err := weft("namespace", "list", "--context", "cluster", "--as", "system:serviceaccount:bookstore:bookstore")
		if err == nil || !strings.Contains(err.Error(), `"system:serviceaccount:bookstore:bookstore" cannot list resource "namespaces"`) {
			t.Errorf("error = %v", err)
		}
	})

	t.Run("mesh list -o json is the control planes' Deployments", func(t *testing.T) {
		out, err := weft("mesh", "list", "--context", "cluster", "-o", "json")
		if err != nil {
			t.Fatal(err)
		}
		var list appsv1.DeploymentList
		if err := json.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("%v:\n%s", err, out)
		}
		if list.Kind != "DeploymentList" || len(list.Items) != 1 || list.Items[0].Labels[labelMeshName] != "blue" || list.Items[0].Namespace != "blue-system" {
			t.Errorf("list:\n%s", out)
		}
	})

	t.Run("mesh list -o yaml decodes", func(t *testing.T) {
		out, err := weft("mesh", "list", "--context", "cluster", "-o", "yaml")
		if err != nil {
			t.Fatal(err)
		}
		var list appsv1.DeploymentList
		if err := yaml.Unmarshal([]byte(out), &list); err != nil || len(list.Items) != 1 || list.Items[0].Name != "weftd" {
			t.Errorf("%v:\n%s", err, out)
		}
	})

	t.Run("mesh list -o wide adds the Deployment", func(t *testing.T) {
		out, err := weft("mesh", "list", "--context", "cluster", "-o", "wide")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if err != nil || len(lines) != 2 || !strings.Contains(lines[0], "DEPLOYMENT") ||
			!strings.Contains(lines[1], "blue") || !strings.Contains(lines[1], "weft-0.3.1") || !strings.Contains(lines[1], "0/1") {
			t.Errorf("%v:\n%s", err, out)
		}
		plain, _ := weft("mesh", "list", "--context", "cluster")
		if strings.Contains(plain, "DEPLOYMENT") {
			t.Errorf("the table without -o wide has the wide columns:\n%s", plain)
		}
	})

	t.Run("namespace list -o json is the Namespaces", func(t *testing.T) {
		out, err := weft("namespace", "list", "--context", "cluster", "-o", "json")
		var list corev1.NamespaceList
		if err != nil || json.Unmarshal([]byte(out), &list) != nil || len(list.Items) != 1 || list.Items[0].Name != "bookstore" {
			t.Errorf("%v:\n%s", err, out)
		}
	})

	t.Run("-o name prints kubectl's names", func(t *testing.T) {
		out, err := weft("namespace", "list", "--context", "cluster", "-o", "name")
		if err != nil || strings.TrimSpace(out) != "namespace/bookstore" {
			t.Errorf("%v: %q", err, out)
		}
	})

	t.Run("an unknown -o is refused", func(t *testing.T) {
		if _, err := weft("mesh", "list", "--context", "cluster", "-o", "xml"); err == nil {
			t.Error("-o xml accepted")
		}
	})

	t.Run("version shows each mesh's version", func(t *testing.T) {
		out, err := weft("version", "--context", "cluster")
		if err != nil || !strings.Contains(out, "weft dev (commit unknown)") {
			t.Fatalf("%v:\n%s", err, out)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 || strings.Join(strings.Fields(lines[2]), " ") != "blue blue-system 0.3.1 weft-0.3.1" {
			t.Errorf("version:\n%s", out)
		}
	})

	t.Run("version without a reachable cluster still prints the CLI's and exits 0", func(t *testing.T) {
		code, out := runMain(t, "version", "--kubeconfig", kubeconfig, "--request-timeout", "2s")
		if code != 0 || !strings.HasPrefix(out, "weft dev (commit unknown)") || !strings.Contains(out, "the meshes' versions are unknown") {
			t.Errorf("exit %d:\n%s", code, out)
		}
	})

	t.Run("-n is not a flag of the verbs that name the mesh namespace", func(t *testing.T) {
		for _, verb := range [][]string{{"install"}, {"mesh", "upgrade"}, {"uninstall", "mesh"}} {
			_, err := weft(append(verb, "-n", "blue-system", "--dry-run")...)
			if err == nil || !strings.Contains(err.Error(), "unknown shorthand flag: 'n'") {
				t.Errorf("%v -n: error = %v", verb, err)
			}
		}
	})
}

// twoContexts writes a kubeconfig with the test's API server as context
// "cluster" (cluster "cluster", user "admin") and a current context "broken"
// whose server refuses connections.
func twoContexts(t *testing.T, path string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cur := cfg.Contexts[cfg.CurrentContext]
	cluster, user := *cfg.Clusters[cur.Cluster], *cfg.AuthInfos[cur.AuthInfo]
	broken := cluster
	broken.Server = "https://127.0.0.1:1"
	cfg.Clusters = map[string]*clientcmdapi.Cluster{"cluster": &cluster, "broken": &broken}
	cfg.AuthInfos = map[string]*clientcmdapi.AuthInfo{"admin": &user}
	cfg.Contexts = map[string]*clientcmdapi.Context{
		"cluster": {Cluster: "cluster", AuthInfo: "admin"},
		"broken":  {Cluster: "broken", AuthInfo: "admin"},
	}
	cfg.CurrentContext = "broken"
	out := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, out); err != nil {
		t.Fatal(err)
	}
	return out
}

// withContextNamespace writes a copy of the kubeconfig whose current context
// has namespace as its namespace.
func withContextNamespace(t *testing.T, path, namespace string) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Contexts[cfg.CurrentContext].Namespace = namespace
	out := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, out); err != nil {
		t.Fatal(err)
	}
	return out
}
