package manifests_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/internal/testenv"
	"github.com/weft-mesh/weft/manifests"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/k8s"
)

const (
	chartDir       = "charts/weft"
	allValuesFile  = "charts/weft/ci/all-values.yaml"
	chartNamespace = "osm-system"
)

func readValues(t *testing.T, file string) map[string]any {
	t.Helper()
	if file == "" {
		return map[string]any{}
	}
	vals, err := chartutil.ReadValuesFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return vals
}

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	c, err := loader.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// renderChart renders the chart as `helm install` would, schema check
// included, and decodes the objects.
func renderChart(t *testing.T, vals map[string]any, namespace string) ([]*unstructured.Unstructured, error) {
	t.Helper()
	return manifests.Render(loadChart(t), vals, namespace)
}

func mustRender(t *testing.T, valuesFile, namespace string) []*unstructured.Unstructured {
	t.Helper()
	objs, err := renderChart(t, readValues(t, valuesFile), namespace)
	if err != nil {
		t.Fatal(err)
	}
	return objs
}

func find(t *testing.T, objs []*unstructured.Unstructured, kind, name string) *unstructured.Unstructured {
	t.Helper()
	for _, o := range objs {
		if o.GetKind() == kind && o.GetName() == name {
			return o
		}
	}
	t.Fatalf("no %s %s rendered", kind, name)
	return nil
}

func field(t *testing.T, o *unstructured.Unstructured, path ...string) any {
	t.Helper()
	v, ok, err := unstructured.NestedFieldNoCopy(o.Object, path...)
	if err != nil || !ok {
		t.Fatalf("%s %s: no field %s (%v)", o.GetKind(), o.GetName(), strings.Join(path, "."), err)
	}
	return v
}

func weftdContainer(t *testing.T, objs []*unstructured.Unstructured) corev1.Container {
	t.Helper()
	cs := field(t, find(t, objs, "Deployment", "weftd"), "spec", "template", "spec", "containers").([]any)
	var c corev1.Container
	if err := runtimeFromMap(cs[0], &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func runtimeFromMap(in, out any) error {
	data, err := json.Marshal(in)
	if err != nil {
		return err
	}
	return json.Unmarshal(data, out)
}

func renderedMeshConfig(t *testing.T, objs []*unstructured.Unstructured) configv1alpha2.MeshConfig {
	t.Helper()
	var mc configv1alpha2.MeshConfig
	if err := runtimeFromMap(find(t, objs, "MeshConfig", configv1alpha2.DefaultMeshConfigName).Object, &mc); err != nil {
		t.Fatal(err)
	}
	return mc
}

func TestChartLint(t *testing.T) {
	for _, file := range []string{"", allValuesFile} {
		linter := lint.All(chartDir, readValues(t, file), chartNamespace, false)
		for _, m := range linter.Messages {
			t.Logf("values %q: %s", file, m)
			if m.Severity >= support.WarningSev {
				t.Errorf("values %q: %s", file, m)
			}
		}
	}
}

func TestChartDefaults(t *testing.T) {
	objs := mustRender(t, "", chartNamespace)
	c := weftdContainer(t, objs)
	if want := []string{"--mesh-name=osm", "--mesh-namespace=osm-system", "--log-format=json"}; !slices.Equal(c.Args, want) {
		t.Errorf("args %v, want %v", c.Args, want)
	}
	if c.Image != "ghcr.io/weft-mesh/weftd:0.1.0" || c.ImagePullPolicy != corev1.PullIfNotPresent {
		t.Errorf("image %s %s", c.Image, c.ImagePullPolicy)
	}
	if r := fmt.Sprint(field(t, find(t, objs, "Deployment", "weftd"), "spec", "replicas")); r != "1" {
		t.Errorf("replicas %v", r)
	}
	for _, o := range objs {
		if o.GetKind() == "PodDisruptionBudget" {
			t.Error("a PodDisruptionBudget by default")
		}
	}
	mc := renderedMeshConfig(t, objs)
	if !mc.Spec.Traffic.EnablePermissiveTrafficPolicyMode || !mc.Spec.Traffic.EnableEgress {
		t.Errorf("traffic %+v, want permissive and egress on as OSM's chart", mc.Spec.Traffic)
	}
	if mc.Namespace != chartNamespace || mc.Spec.Sidecar.InitContainerImage != "ghcr.io/weft-mesh/weft-init:0.1.0" || mc.Spec.Sidecar.EnvoyImage != "" {
		t.Errorf("MeshConfig %s, sidecar %+v", mc.Namespace, mc.Spec.Sidecar)
	}
	// The preset agrees with DefaultSpec wherever it says nothing else
	// (Semantic: an empty list is no list).
	want := configv1alpha2.DefaultSpec()
	want.Sidecar.InitContainerImage = mc.Spec.Sidecar.InitContainerImage
	if !equality.Semantic.DeepEqual(mc.Spec, want) {
		t.Errorf("preset spec %+v\nDefaultSpec %+v", mc.Spec, want)
	}
}

func TestChartAllValues(t *testing.T) {
	objs := mustRender(t, allValuesFile, "blue-system")
	c := weftdContainer(t, objs)
	if want := []string{"--mesh-name=blue", "--mesh-namespace=blue-system", "--log-format=text"}; !slices.Equal(c.Args, want) {
		t.Errorf("args %v, want %v", c.Args, want)
	}
	if c.Image != "registry.example.com/mesh/weftd-custom:v9.9.9" || c.ImagePullPolicy != corev1.PullAlways {
		t.Errorf("image %s %s", c.Image, c.ImagePullPolicy)
	}
	if c.Resources.Limits.Cpu().String() != "2" || c.Resources.Requests.Memory().String() != "256Mi" {
		t.Errorf("resources %+v", c.Resources)
	}
	dep := find(t, objs, "Deployment", "weftd")
	var pod corev1.PodSpec
	if err := runtimeFromMap(field(t, dep, "spec", "template", "spec"), &pod); err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(field(t, dep, "spec", "replicas")) != "2" || len(pod.ImagePullSecrets) != 1 || pod.ImagePullSecrets[0].Name != "regcred" ||
		pod.NodeSelector["kubernetes.io/os"] != "linux" || len(pod.Tolerations) != 1 || pod.Affinity == nil || pod.Affinity.NodeAffinity == nil {
		t.Errorf("pod spec %+v", pod)
	}
	pdb := find(t, objs, "PodDisruptionBudget", "weftd")
	if fmt.Sprint(field(t, pdb, "spec", "minAvailable")) != "1" || pdb.GetNamespace() != "blue-system" {
		t.Errorf("PodDisruptionBudget %v", pdb.Object)
	}
	mw := find(t, objs, "MutatingWebhookConfiguration", "weft-sidecar-injector-blue")
	hook := field(t, mw, "webhooks").([]any)[0].(map[string]any)
	if hook["failurePolicy"] != "Ignore" || hook["clientConfig"].(map[string]any)["service"].(map[string]any)["namespace"] != "blue-system" {
		t.Errorf("injector webhook %v", hook)
	}
	if s, _ := json.Marshal(hook["namespaceSelector"]); !bytes.Contains(s, []byte(`["kube-system","blue-system"]`)) {
		t.Errorf("injector namespaceSelector %s: the mesh namespace must be left out", s)
	}
	sa := find(t, objs, "ServiceAccount", "weftd")
	if sa.GetNamespace() != "blue-system" {
		t.Errorf("ServiceAccount in %s", sa.GetNamespace())
	}
	subj := field(t, find(t, objs, "ClusterRoleBinding", "weftd-blue"), "subjects").([]any)[0].(map[string]any)
	if subj["namespace"] != "blue-system" {
		t.Errorf("ClusterRoleBinding subject %v", subj)
	}
	// The leader election's Lease is in the mesh namespace.
	rb := find(t, objs, "RoleBinding", "weftd")
	if rb.GetNamespace() != "blue-system" || find(t, objs, "Role", "weftd").GetNamespace() != "blue-system" ||
		field(t, rb, "subjects").([]any)[0].(map[string]any)["namespace"] != "blue-system" {
		t.Errorf("RoleBinding %v", rb.Object)
	}

	s := renderedMeshConfig(t, objs).Spec
	tr, sc, ob, ff := s.Traffic, s.Sidecar, s.Observability, s.FeatureFlags
	if tr.EnablePermissiveTrafficPolicyMode || tr.EnableEgress || !slices.Equal(tr.OutboundIPRangeExclusionList, []string{"10.0.0.0/8"}) ||
		!slices.Equal(tr.OutboundIPRangeInclusionList, []string{"192.168.0.0/16"}) || len(tr.OutboundPortExclusionList) != 1 ||
		len(tr.InboundPortExclusionList) != 1 || !slices.Equal(tr.NetworkInterfaceExclusionList, []string{"eth1"}) {
		t.Errorf("traffic %+v", tr)
	}
	if sc.LogLevel != "debug" || sc.EnvoyImage != "envoyproxy/envoy:distroless-v1.36.2" || sc.InitContainerImage != "registry.example.com/mesh/init-custom:v9.9.9" ||
		sc.LocalProxyMode != configv1alpha2.LocalProxyModePodIP || sc.MaxDataPlaneConnections != 100 || sc.ConfigResyncInterval != "90s" || !sc.EnablePrivilegedInitContainer {
		t.Errorf("sidecar %+v", sc)
	}
	if ob.OSMLogLevel != "debug" || !ob.EnableDebugServer || !ob.Tracing.Enable || ob.Tracing.Address != "zipkin.tracing.svc.cluster.local" ||
		ob.Tracing.Port != 9412 || ob.Tracing.Endpoint != "/api/v2/spans" {
		t.Errorf("observability %+v", ob)
	}
	if s.Certificate.ServiceCertValidityDuration != "12h" || s.Certificate.CertKeyBitSize != 2048 {
		t.Errorf("certificate %+v", s.Certificate)
	}
	if ff.EnableWASMStats || ff.EnableEgressPolicy || ff.EnableIngressBackendPolicy || !ff.EnableRetryPolicy || !ff.EnableSnapshotCacheMode ||
		!ff.EnableAsyncProxyServiceMapping || !ff.EnableEnvoyActiveHealthChecks {
		t.Errorf("featureFlags %+v", ff)
	}
}

func TestChartLeaderElectionOff(t *testing.T) {
	objs, err := renderChart(t, map[string]any{"leaderElection": map[string]any{"enabled": false}}, chartNamespace)
	if err != nil {
		t.Fatal(err)
	}
	if c := weftdContainer(t, objs); !slices.Contains(c.Args, "--leader-elect=false") {
		t.Errorf("args %v, want --leader-elect=false", c.Args)
	}
}

// TestChartCertManager: certificateProvider.kind cert-manager passes the
// issuer and the trust bundle to weftd, which may then make
// CertificateRequests in the mesh namespace.
func TestChartCertManager(t *testing.T) {
	objs, err := renderChart(t, map[string]any{"certificateProvider": map[string]any{
		"kind":        "cert-manager",
		"certmanager": map[string]any{"issuerName": "mesh-ca", "issuerKind": "ClusterIssuer", "trustBundle": "Secret/osm-ca-bundle/ca.crt"},
	}}, chartNamespace)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"--mesh-name=osm", "--mesh-namespace=osm-system", "--log-format=json", "--certificate-provider=cert-manager",
		"--cert-manager-issuer-name=mesh-ca", "--cert-manager-issuer-kind=ClusterIssuer", "--cert-manager-issuer-group=cert-manager.io",
		"--cert-manager-trust-bundle=Secret/osm-ca-bundle/ca.crt"}
	if c := weftdContainer(t, objs); !slices.Equal(c.Args, want) {
		t.Errorf("args %v, want %v", c.Args, want)
	}
	// What ca/certmanager does with a request: create, watch it by name, delete.
	role := find(t, objs, "Role", "weftd")
	found := false
	for _, r := range field(t, role, "rules").([]any) {
		rule := r.(map[string]any)
		if fmt.Sprint(rule["apiGroups"]) == "[cert-manager.io]" && fmt.Sprint(rule["resources"]) == "[certificaterequests]" {
			found = fmt.Sprint(rule["verbs"]) == "[create watch delete]"
		}
	}
	if !found || role.GetNamespace() != chartNamespace {
		t.Errorf("Role %v: want create, watch and delete of certificaterequests in %s", role.Object, chartNamespace)
	}
}

// TestChartRefuses: the schema names a mistyped or unknown value, and
// cert-manager without an issuer fails rather than installing a weftd that
// exits at start.
func TestChartRefuses(t *testing.T) {
	for _, tc := range []struct {
		vals map[string]any
		want []string
	}{
		{map[string]any{"replicaCount": "two"}, []string{"replicaCount", "integer"}},
		{map[string]any{"meshConfig": map[string]any{"enableEgress": "yes"}}, []string{"meshConfig", "enableEgress", "boolean"}},
		{map[string]any{"replicas": 2}, []string{"replicas"}},
		{map[string]any{"webhook": map[string]any{"failurePolicy": "Sometimes"}}, []string{"failurePolicy"}},
		{map[string]any{"certificateProvider": map[string]any{"kind": "cert-manager", "certmanager": map[string]any{"issuerName": ""}}},
			[]string{"cert-manager", "issuerName"}},
		{map[string]any{"certificateProvider": map[string]any{"certmanager": map[string]any{"trustBundle": "osm-ca-bundle"}}}, []string{"trustBundle"}},
	} {
		_, err := renderChart(t, tc.vals, chartNamespace)
		if err == nil {
			t.Errorf("%v: rendered", tc.vals)
			continue
		}
		t.Logf("%v: %v", tc.vals, err)
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not name %q", tc.vals, err, w)
			}
		}
	}
}

// TestChartCRDsAreManifests: Helm reads crds/ literally, so it holds copies
// that `make manifests` writes; they must not drift.
func TestChartCRDsAreManifests(t *testing.T) {
	want, _ := fs.Glob(os.DirFS("."), "crds/*.yaml")
	all, _ := fs.Glob(os.DirFS(chartDir), "crds/*.yaml")
	// Gateway API's come from its module (make manifests; verify-generated
	// checks them).
	got := slices.DeleteFunc(all, func(f string) bool { return strings.HasPrefix(f, "crds/gateway.networking.k8s.io_") })
	if len(got) != len(want) {
		t.Fatalf("chart CRDs %v, manifests %v: run make manifests", got, want)
	}
	for _, f := range want {
		a, _ := os.ReadFile(f)
		b, err := os.ReadFile(path.Join(chartDir, f))
		if err != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs from %s/%s: run make manifests", f, chartDir, f)
		}
	}
}

// TestChartServerSideDryRun: the API server accepts the chart's CRDs and
// every rendered object, with default values and with every value set.
func TestChartServerSideDryRun(t *testing.T) {
	env := testenv.Start(t)
	ctx := t.Context()
	crds := loadChart(t).CRDObjects()
	if len(crds) == 0 {
		t.Fatal("the chart has no CRDs")
	}
	for _, tc := range []struct{ values, namespace string }{{"", chartNamespace}, {allValuesFile, "blue-system"}} {
		if err := env.Client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: tc.namespace}}); err != nil {
			t.Fatal(err)
		}
		var objs []*unstructured.Unstructured
		for _, crd := range crds {
			decoded, err := k8s.DecodeYAML(bytes.NewReader(crd.File.Data))
			if err != nil {
				t.Fatalf("%s: %v", crd.Filename, err)
			}
			objs = append(objs, decoded...)
		}
		objs = append(objs, mustRender(t, tc.values, tc.namespace)...)
		for _, obj := range objs {
			err := env.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(obj), client.FieldOwner("helm"), client.ForceOwnership, client.DryRunAll)
			if err != nil {
				t.Errorf("values %q: %s %s/%s: %v", tc.values, obj.GetKind(), obj.GetNamespace(), obj.GetName(), err)
			}
		}
	}
}

// TestChartMeshesDoNotCollide: two meshes' cluster-scoped objects have
// different names, and each mesh's webhooks select only its own namespaces.
func TestChartMeshesDoNotCollide(t *testing.T) {
	names := map[string]string{}
	for _, mesh := range []string{"blue", "green"} {
		objs, err := renderChart(t, map[string]any{"meshName": mesh}, mesh+"-system")
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range objs {
			if o.GetNamespace() != "" {
				continue
			}
			key := o.GetKind() + "/" + o.GetName()
			if other, ok := names[key]; ok {
				t.Errorf("%s rendered for meshes %s and %s", key, other, mesh)
			}
			names[key] = mesh
		}
		mw := field(t, find(t, objs, "MutatingWebhookConfiguration", "weft-sidecar-injector-"+mesh), "webhooks").([]any)[0]
		vw := field(t, find(t, objs, "ValidatingWebhookConfiguration", "weft-policy-validator-"+mesh), "webhooks").([]any)
		for what, sel := range map[string]any{"injector": mw.(map[string]any)["namespaceSelector"], "policy validator": vw[0].(map[string]any)["namespaceSelector"]} {
			if s, _ := json.Marshal(sel); !bytes.Contains(s, []byte(`"openservicemesh.io/monitored-by"`)) || !bytes.Contains(s, []byte(`"`+mesh+`"`)) {
				t.Errorf("mesh %s: %s namespaceSelector %s does not select the mesh's namespaces", mesh, what, s)
			}
		}
		if s, _ := json.Marshal(vw[1].(map[string]any)["namespaceSelector"]); !bytes.Contains(s, []byte(`"`+mesh+`-system"`)) {
			t.Errorf("mesh %s: MeshConfig validator namespaceSelector %s, want the mesh namespace", mesh, s)
		}
	}
}
