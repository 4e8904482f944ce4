package main

import (
	"fmt"
	"io"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/printers"
	"k8s.io/client-go/kubernetes/scheme"
)

// outputFlags are kubectl's -o: a table (wide adds columns), or the listed
// objects themselves as json, yaml, name, jsonpath or go-template.
type outputFlags struct {
	print *genericclioptions.PrintFlags
}

func (o *outputFlags) add(cmd *cobra.Command) {
	o.print = genericclioptions.NewPrintFlags("").WithTypeSetter(scheme.Scheme)
	o.print.AddFlags(cmd)
	cmd.Flags().Lookup("output").Usage = "output format: one of (wide, json, yaml, name, jsonpath=..., go-template=...); a table when empty"
}

func (o *outputFlags) isTable() bool {
	return *o.print.OutputFormat == "" || *o.print.OutputFormat == "wide"
}

// printList prints table as a table, or, for another -o, obj (the typed
// list of the objects the table shows).
func (o *outputFlags) printList(out io.Writer, table *metav1.Table, obj runtime.Object) error {
	if o.isTable() {
		return printers.NewTablePrinter(printers.PrintOptions{Wide: *o.print.OutputFormat == "wide"}).PrintObj(table, out)
	}
	p, err := o.print.ToPrinter()
	if err != nil {
		return err
	}
	if *o.print.OutputFormat != "name" {
		return p.PrintObj(obj, out)
	}
	// The name printer takes one object at a time, as kubectl gives it.
	items, err := meta.ExtractList(obj)
	if err != nil {
		return err
	}
	for _, item := range items {
		if err := p.PrintObj(item, out); err != nil {
			return err
		}
	}
	return nil
}

// parent makes cmd a command that only groups others: run alone it prints
// its help, and an unknown subcommand is an error (cobra would print the
// help and exit 0).
func parent(cmd *cobra.Command, subcommands ...*cobra.Command) *cobra.Command {
	cmd.Args = func(c *cobra.Command, args []string) error {
		if len(args) > 0 {
			return fmt.Errorf("unknown command %q for %q; see %q", args[0], c.CommandPath(), c.CommandPath()+" --help")
		}
		return nil
	}
	cmd.RunE = func(c *cobra.Command, _ []string) error { return c.Help() }
	cmd.AddCommand(subcommands...)
	return cmd
}
