package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/validation"
)

// TestRenderBookstore is the acceptance check of `weft render` on the bookstore
// story: bookstore admits exactly bookbuyer (and the ingress controller's
// principal on its ingress chain), and bookbuyer splits bookstore 50/50.
func TestRenderBookstore(t *testing.T) {
	examples := filepath.Join("..", "..", "examples")
	// The ingress controller's endpoints, which a cluster would have.
	controller := filepath.Join("..", "..", "catalog", "testdata", "ingress-nginx-endpoints.yaml")
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, dump string)
	}{
		{
			name: "bookstore's inbound RBAC names exactly the allowed principals",
			args: []string{"render", "-f", examples, "-f", controller, "--identity", "bookstore/bookstore", "-o", "json"},
			check: func(t *testing.T, dump string) {
				got := exactPrincipals(t, dump)
				want := []string{"bookbuyer.bookbuyer.cluster.local", "ingress-nginx.ingress-nginx.cluster.local", "spiffe://cluster.local/ns/bookbuyer/sa/bookbuyer"}
				if !slices.Equal(got, want) {
					t.Errorf("principals = %v, want %v", got, want)
				}
			},
		},
		{
			name: "bookbuyer reaches bookstore through the split's weighted clusters",
			args: []string{"render", "-f", examples, "--identity", "bookbuyer/bookbuyer"},
			check: func(t *testing.T, dump string) {
				for _, want := range []string{`"name": "bookstore/bookstore-v1|14001",
                            "weight": 500`, `"name": "bookstore/bookstore-v2|14001",
                            "weight": 500`} {
					if !strings.Contains(dump, want) {
						t.Errorf("the dump lacks %s", want)
					}
				}
			},
		},
		{
			name: "with --trust-domain example.org, inbound RBAC names identities in example.org",
			args: []string{"render", "-f", examples, "-f", controller, "--identity", "bookstore/bookstore", "--trust-domain", "example.org"},
			check: func(t *testing.T, dump string) {
				got := exactPrincipals(t, dump)
				// The IngressBackend's principal is the policy's own words.
				want := []string{"bookbuyer.bookbuyer.example.org", "ingress-nginx.ingress-nginx.cluster.local", "spiffe://example.org/ns/bookbuyer/sa/bookbuyer"}
				if !slices.Equal(got, want) {
					t.Errorf("principals = %v, want %v", got, want)
				}
			},
		},
		{
			name: "with --trust-domain example.org, upstream SAN matchers name bookstore in example.org",
			args: []string{"render", "-f", examples, "--identity", "bookbuyer/bookbuyer", "--trust-domain", "example.org"},
			check: func(t *testing.T, dump string) {
				for _, want := range []string{`"exact": "bookstore.bookstore.example.org"`, `"exact": "spiffe://example.org/ns/bookstore/sa/bookstore"`} {
					if !strings.Contains(dump, want) {
						t.Errorf("the dump lacks %s", want)
					}
				}
				for _, bad := range []string{"bookstore.bookstore.cluster.local\"", "spiffe://cluster.local"} {
					if strings.Contains(dump, bad) {
						t.Errorf("the dump names %s", bad)
					}
				}
			},
		},
		{
			name: "bookthief may reach nothing in the mesh",
			args: []string{"render", "-f", filepath.Join(examples, "bookstore"), "-f", filepath.Join(examples, "meshconfig.yaml"), "--identity", "bookthief/bookthief"},
			check: func(t *testing.T, dump string) {
				if strings.Contains(dump, "bookstore/bookstore") {
					t.Error("bookthief's configuration names a bookstore cluster")
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			cmd := newRootCommand()
			cmd.SetArgs(tt.args)
			cmd.SetOut(&out)
			cmd.SetErr(&errOut)
			if err := cmd.Execute(); err != nil {
				t.Fatalf("weft %s: %v\n%s", strings.Join(tt.args, " "), err, errOut.String())
			}
			if !json.Valid(out.Bytes()) {
				t.Fatal("the output is not JSON")
			}
			tt.check(t, out.String())
		})
	}
}

// TestRenderWarnsInTheWebhooksWords checks that `weft render` warns of each
// policy the catalog skips with the field and message the admission webhook
// refuses it with, so that what render shows matches what the cluster takes.
func TestRenderWarnsInTheWebhooksWords(t *testing.T) {
	tests := []struct {
		name   string
		policy string
	}{
		{
			name: "an IngressBackend with an upper-case protocol and a bare IP source",
			policy: `
apiVersion: policy.openservicemesh.io/v1alpha1
kind: IngressBackend
metadata: {name: ib, namespace: b}
spec:
  backends: [{name: web, port: {number: 8080, protocol: HTTP}}]
  sources: [{kind: IPRange, name: 10.0.0.1}]`,
		},
		{
			name: "an HTTPRouteGroup with an empty method and an empty header name",
			policy: `
apiVersion: specs.smi-spec.io/v1alpha4
kind: HTTPRouteGroup
metadata: {name: routes, namespace: b}
spec:
  matches: [{name: books, methods: [GET, ""]}, {name: users, headers: [{"": ".*"}]}]`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			objs, err := k8s.DecodeYAML(strings.NewReader(tt.policy))
			if err != nil {
				t.Fatal(err)
			}
			policy := objs[0]
			raw, err := json.Marshal(policy)
			if err != nil {
				t.Fatal(err)
			}
			gvk := policy.GroupVersionKind()
			resp := validation.NewWebhook(nil).Handle(context.Background(), admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
				UID: "render", Operation: admissionv1.Create, Name: policy.GetName(), Namespace: policy.GetNamespace(),
				Kind:   metav1.GroupVersionKind{Group: gvk.Group, Version: gvk.Version, Kind: gvk.Kind},
				Object: runtime.RawExtension{Raw: raw},
			}})
			if resp.Allowed || resp.Result == nil || resp.Result.Details == nil || len(resp.Result.Details.Causes) == 0 {
				t.Fatalf("the webhook allows the policy: %+v", resp.Result)
			}

			_, warnings, err := renderFiles(t, renderMesh+"---"+tt.policy, "--identity", "b/web")
			if err != nil {
				t.Fatalf("weft render: %v\n%s", err, warnings)
			}
			for _, c := range resp.Result.Details.Causes {
				want := fmt.Sprintf("warning: %s %s/%s: %s: %s; ", policy.GetKind(), policy.GetNamespace(), policy.GetName(), c.Field, c.Message)
				if !strings.Contains(warnings, want) {
					t.Errorf("render does not warn %q; it warns:\n%s", want, warnings)
				}
			}
		})
	}
}

func TestRenderRejectsAmbiguousProxies(t *testing.T) {
	cmd := newRootCommand()
	cmd.SetArgs([]string{"render", "-f", "x", "--identity", "a/b", "--pod", "a/c"})
	cmd.SetOut(&bytes.Buffer{})
	cmd.SetErr(&bytes.Buffer{})
	err := cmd.Execute()
	if err == nil || !strings.Contains(err.Error(), "exactly one of --identity") {
		t.Errorf("error = %v, want a request for exactly one of --identity or --pod", err)
	}
}

// exactPrincipals lists, sorted and unique, the exact principal names of every
// RBAC policy in a config dump.
func exactPrincipals(t *testing.T, dump string) []string {
	t.Helper()
	var doc any
	if err := json.Unmarshal([]byte(dump), &doc); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			if pn, ok := v["principal_name"].(map[string]any); ok {
				if exact, ok := pn["exact"].(string); ok {
					seen[exact] = true
				}
			}
			for _, c := range v {
				walk(c)
			}
		case []any:
			for _, c := range v {
				walk(c)
			}
		}
	}
	walk(doc)
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// renderFiles runs `weft render` on one file holding docs, with args after
// -f; it returns the output, the warnings and the error.
func renderFiles(t *testing.T, docs string, args ...string) (string, string, error) {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "mesh.yaml"), []byte(docs), 0o600); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	cmd := newRootCommand()
	cmd.SetArgs(append([]string{"render", "-f", dir}, args...))
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	err := cmd.Execute()
	return out.String(), errOut.String(), err
}

const renderMesh = `
apiVersion: v1
kind: Namespace
metadata: {name: b, labels: {openservicemesh.io/monitored-by: osm}}
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: b}
spec: {selector: {app: web}, clusterIP: 10.96.0.10, ports: [{name: http, port: 80, targetPort: 8080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: b}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {serviceAccountName: web, containers: [{name: app, image: app}]}
`

// TestRenderMessages: each bad document is warned of once, by kind and name
// when it has them; a Service that files give no cluster IP is warned of
// for its TCP ports; --pod names the pods as the files source made them.
func TestRenderMessages(t *testing.T) {
	t.Run("each bad document once, by kind and name", func(t *testing.T) {
		_, warnings, err := renderFiles(t, renderMesh+`---
apiVersion: split.smi-spec.io/v1alpha2
kind: TrafficSplit
metadata: {name: half, namespace: b}
spec: {service: web, backends: [{service: web, weight: half}]}
---
apiVersion: v1
kind: Service
metadata: {name: broken, namespace: b}
spec: {ports: nope}
---
kind: Foo
metadata: {name: foo}
`, "--identity", "b/web")
		if err != nil {
			t.Fatal(err)
		}
		for _, want := range []string{
			"warning: TrafficSplit b/half: not read from ",
			"warning: Service b/broken: not read from ",
			"warning: Foo foo: not read from ",
		} {
			if !strings.Contains(warnings, want) {
				t.Errorf("no warning starts %q:\n%s", want, warnings)
			}
		}
		// Three documents, each named once and numbered once.
		for say, times := range map[string]int{"TrafficSplit b/half": 1, "Service b/broken": 1, "Foo foo": 1, "document ": 3} {
			if n := strings.Count(warnings, say); n != times {
				t.Errorf("the warnings say %q %d times, want %d:\n%s", say, n, times, warnings)
			}
		}
	})
	t.Run("a TCP port of a Service without a cluster IP", func(t *testing.T) {
		_, warnings, err := renderFiles(t, renderMesh+`---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: b}
spec: {selector: {app: db}, ports: [{name: tcp-pg, port: 5432}, {name: http, port: 8080}]}
`, "--identity", "b/web")
		if err != nil {
			t.Fatal(err)
		}
		want := "warning: Service b/db: spec.clusterIP: no cluster IP (a cluster assigns one; files must write it), so meshed clients cannot reach port 5432 (tcp), which only an address matches\n"
		if !strings.Contains(warnings, want) {
			t.Errorf("warnings:\n%s\nwant %s", warnings, want)
		}
	})
	t.Run("--pod names the pods the files source made", func(t *testing.T) {
		_, _, err := renderFiles(t, renderMesh, "--pod", "b/web-5d8f7-abcde")
		if err == nil || !strings.Contains(err.Error(), "pods of namespace b: web-0, web-1; "+k8s.TemplatePodNames) {
			t.Errorf("error = %v, want it to list web-0 and web-1", err)
		}
		if _, _, err := renderFiles(t, renderMesh, "--pod", "b/web-1"); err != nil {
			t.Errorf("--pod b/web-1: %v", err)
		}
	})
}

// TestRenderExternalNameCapturesNothing: an ExternalName Service names an
// outside host and has no address; it is warned of and gets no chain, so
// connections to its port still reach egress passthrough (OSM too built it no
// outbound chain).
func TestRenderExternalNameCapturesNothing(t *testing.T) {
	// The MeshConfig's defaults: permissive mode and egress passthrough on.
	out, warnings, err := renderFiles(t, renderMesh+`---
{apiVersion: config.openservicemesh.io/v1alpha2, kind: MeshConfig, metadata: {name: osm-mesh-config, namespace: osm-system}}
---
apiVersion: v1
kind: Service
metadata: {name: api, namespace: b}
spec: {type: ExternalName, externalName: api.example.com, ports: [{name: http, port: 8080}]}
`, "--identity", "b/web")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(warnings, "warning: Service b/api: spec.type: an ExternalName Service is not meshed") {
		t.Errorf("warnings:\n%s", warnings)
	}
	for _, bad := range []string{"b/api|8080", `"outbound|http|8080"`} {
		if strings.Contains(out, bad) {
			t.Errorf("the configuration names %s", bad)
		}
	}
	if !strings.Contains(out, `"outbound|egress-passthrough"`) {
		t.Error("no egress passthrough chain")
	}
}
