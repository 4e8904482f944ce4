package main

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"

	"github.com/weft-mesh/weft/catalog"
)

// analyzeOptions are `weft analyze`'s flags.
type analyzeOptions struct {
	src    meshSource
	output string
}

func newAnalyzeCommand() *cobra.Command {
	o := &analyzeOptions{}
	cmd := &cobra.Command{
		Use:   "analyze [-f files...] [-o text|json|yaml]",
		Short: "List every problem the mesh knows of, by object, with the field and the reason",
		Long: `analyze builds the mesh model as weftd does and lists what it found wrong: each policy,
or part of one, that was skipped and why (in the validating webhook's words where
admission would refuse it), each MeshConfig setting ignored or not honoured, and
services clients cannot reach. Read from the cluster, it adds what weftd reports at
runtime when weftd can be reached through the API server (proxies' NACKs, certificates
near expiry). It exits non-zero when any problem is an error; warnings leave the input
in force.`,
		Example: `  weft analyze
  weft analyze -f examples/ -o json
  weft analyze --mesh-name blue --mesh-namespace blue-system -o yaml`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context(), cmd.OutOrStdout()) },
	}
	o.src.add(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", "text", "output format: text, json or yaml")
	return cmd
}

// finding is one problem, from the catalog or from weftd at runtime.
type finding struct {
	Field    string `json:"field,omitempty"`
	Severity string `json:"severity"`
	Reason   string `json:"reason"`
}

// objectFindings are the problems of one object.
type objectFindings struct {
	Kind      string    `json:"kind"`
	Namespace string    `json:"namespace,omitempty"`
	Name      string    `json:"name,omitempty"`
	Problems  []finding `json:"problems"`
}

// analysis is analyze's report, as -o json and yaml print it.
type analysis struct {
	Objects  []objectFindings `json:"objects"`
	Errors   int              `json:"errors"`
	Warnings int              `json:"warnings"`
	// Runtime says whether weftd's runtime status was read, and if not why;
	// empty when reading files.
	Runtime string `json:"runtime,omitempty"`
}

func (o *analyzeOptions) run(ctx context.Context, out io.Writer) error {
	switch o.output {
	case "text", "json", "yaml":
	default:
		return fmt.Errorf("output format %q is not supported (text, json or yaml)", o.output)
	}
	snap, err := o.src.load(ctx)
	if err != nil {
		return err
	}
	a := &analysis{Objects: []objectFindings{}}
	a.addProblems(snap.model.Problems)
	if snap.kube != nil {
		statuses, err := fetchProxyStatus(ctx, snap.kube, snap.cfg.Namespace, nil, io.Discard)
		if err == nil {
			a.addRuntime(runtimeFindings(statuses, time.Now()))
			a.Runtime = "read from weftd's /debug/proxy-status"
		} else {
			a.Runtime = "not read: " + err.Error()
		}
	}
	a.sort()
	if err := a.write(out, o.output); err != nil {
		return err
	}
	if a.Errors > 0 {
		return fmt.Errorf("%d problem(s) of severity error", a.Errors)
	}
	return nil
}

func (a *analysis) add(obj catalog.ObjectRef, f finding) {
	if f.Severity == "error" {
		a.Errors++
	} else {
		a.Warnings++
	}
	for i := range a.Objects {
		o := &a.Objects[i]
		if o.Kind == obj.Kind && o.Namespace == obj.Namespace && o.Name == obj.Name {
			o.Problems = append(o.Problems, f)
			return
		}
	}
	a.Objects = append(a.Objects, objectFindings{Kind: obj.Kind, Namespace: obj.Namespace, Name: obj.Name, Problems: []finding{f}})
}

func (a *analysis) addProblems(ps []catalog.Problem) {
	for _, p := range ps {
		reason := p.Reason
		if p.Skipped != "" {
			reason += "; " + p.Skipped
		}
		obj := p.Object
		if obj.Kind == "" {
			obj.Kind = "Document"
		}
		a.add(obj, finding{Field: p.Field, Severity: p.Severity(), Reason: reason})
	}
}

// sort orders objects by kind, namespace and name; each object's problems
// keep the catalog's order.
func (a *analysis) sort() {
	slices.SortStableFunc(a.Objects, func(x, y objectFindings) int {
		return cmp.Or(cmp.Compare(x.Kind, y.Kind), cmp.Compare(x.Namespace, y.Namespace), cmp.Compare(x.Name, y.Name))
	})
}

func (a *analysis) write(out io.Writer, format string) error {
	switch format {
	case "json":
		b, err := json.MarshalIndent(a, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintln(out, string(b))
		return err
	case "yaml":
		b, err := yaml.Marshal(a)
		if err != nil {
			return err
		}
		_, err = out.Write(b)
		return err
	}
	for _, o := range a.Objects {
		fmt.Fprintln(out, catalog.ObjectRef{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name}.String())
		for _, f := range o.Problems {
			field := ""
			if f.Field != "" {
				field = f.Field + ": "
			}
			fmt.Fprintf(out, "  %-7s  %s%s\n", f.Severity, field, f.Reason)
		}
	}
	if a.Runtime != "" {
		fmt.Fprintf(out, "weftd's runtime status: %s\n", a.Runtime)
	}
	if len(a.Objects) == 0 {
		_, err := fmt.Fprintln(out, "no problems found")
		return err
	}
	_, err := fmt.Fprintf(out, "%d error(s), %d warning(s)\n", a.Errors, a.Warnings)
	return err
}
