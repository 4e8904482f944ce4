package main

import (
	"bytes"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestRenderBookstore is the acceptance check of `weft render` on the bookstore
// story: bookstore admits exactly bookbuyer (and the ingress controller's
// principal on its ingress chain), and bookbuyer splits bookstore 50/50.
func TestRenderBookstore(t *testing.T) {
	examples := filepath.Join("..", "..", "examples")
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, dump string)
	}{
		{
			name: "bookstore's inbound RBAC names exactly the allowed principals",
			args: []string{"render", "-f", examples, "--identity", "bookstore/bookstore", "-o", "json"},
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
