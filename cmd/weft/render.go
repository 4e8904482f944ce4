package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
	"github.com/weft-mesh/weft/pkg/proxyless"
)

// renderOptions are `weft render`'s flags.
type renderOptions struct {
	paths    []string
	identity string
	pod      string
	kind     string
	output   string
	// mesh is the mesh configuration, built from the flags as weftd builds
	// its own.
	mesh mesh.Config
}

func newRenderCommand() *cobra.Command {
	o := renderOptions{mesh: mesh.Defaults()}
	cmd := &cobra.Command{
		Use:   "render -f <file or folder> (--identity <namespace>/<serviceaccount> | --pod <namespace>/<name>) [-o json]",
		Short: "Show the Envoy configuration a proxy would get, from YAML files and without a cluster",
		Long: `render reads Kubernetes and mesh YAML (what you would kubectl apply), builds the mesh
model as weftd does, and prints the configuration a proxy of one identity would receive,
in the shape of Envoy's /config_dump. Use it to see what a policy change does before
applying it. Namespaces must be in the files, labelled openservicemesh.io/monitored-by.`,
		Example: `  weft render -f examples/bookstore --identity bookstore/bookstore -o json
  weft render -f examples/ -f my-policy.yaml --pod bookbuyer/bookbuyer-0`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.OutOrStdout(), cmd.ErrOrStderr()) },
	}
	f := cmd.Flags()
	f.StringArrayVarP(&o.paths, "filename", "f", nil, "a YAML file or a folder of them (repeatable)")
	f.StringVar(&o.identity, "identity", "", "the proxy's identity: <namespace>/<serviceaccount>")
	f.StringVar(&o.pod, "pod", "", "a pod in the files, whose service account and addresses the proxy takes")
	f.StringVar(&o.kind, "kind", "", "the proxy's kind: sidecar, grpc (a proxyless gRPC workload) or gateway (a Gateway's Envoy: --identity <ns>/<gateway>-weft-gateway); default: grpc for a --pod annotated weft.dev/proxyless: grpc, else sidecar")
	f.StringVarP(&o.output, "output", "o", "json", "output format: json")
	f.StringVar(&o.mesh.Name, "mesh-name", o.mesh.Name, "the mesh's name, as namespaces' monitored-by label says it")
	f.StringVar(&o.mesh.Namespace, "mesh-namespace", o.mesh.Namespace, "the namespace holding the MeshConfig")
	f.StringVar(&o.mesh.TrustDomain, "trust-domain", o.mesh.TrustDomain, "the trust domain that ends every identity's certificate name, as weftd's --trust-domain")
	f.StringVar(&o.mesh.ClusterDomain, "cluster-domain", o.mesh.ClusterDomain, "the DNS domain of the cluster's Services, as weftd's --cluster-domain")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func (o *renderOptions) run(out, errOut io.Writer) error {
	if o.output != "json" {
		return fmt.Errorf("output format %q is not supported (json)", o.output)
	}
	if (o.identity == "") == (o.pod == "") {
		return fmt.Errorf("name the proxy with exactly one of --identity <namespace>/<serviceaccount> or --pod <namespace>/<name>")
	}
	o.mesh = o.mesh.WithDefaults()
	if err := o.mesh.Validate(); err != nil {
		return err
	}
	state, err := o.load()
	if err != nil {
		return err
	}
	model := catalog.Build(state, o.mesh)
	// One warning for each piece of input the catalog skipped, documents the
	// files source could not read among them. What admission would refuse
	// reads as the webhook refuses it: the field, then the same message.
	for _, p := range model.Problems {
		fmt.Fprintf(errOut, "warning: %s\n", p.String())
	}
	proxy, err := o.proxy(state)
	if err != nil {
		return err
	}
	switch o.kind {
	case "":
	case string(envoy.ProxySidecar), string(envoy.ProxyGRPC), string(envoy.ProxyGateway):
		proxy.Kind = envoy.ProxyKind(o.kind)
	default:
		return fmt.Errorf("--kind %q: want %s, %s or %s", o.kind, envoy.ProxySidecar, envoy.ProxyGRPC, envoy.ProxyGateway)
	}
	if proxy.Kind == envoy.ProxyGateway {
		if model.Gateway(proxy.Identity) == nil {
			fmt.Fprintf(errOut, "warning: %s is no Gateway's identity in the files (a Gateway's is <namespace>/<gateway>-weft-gateway); it gets no listeners\n", proxy.Identity)
		}
	} else if model.Identity(proxy.Identity) == nil {
		fmt.Fprintf(errOut, "warning: %s is not a service account in a monitored namespace of the files; it gets deny-by-default configuration\n", proxy.Identity)
	}
	res, err := envoy.Generate(model, proxy)
	if err != nil {
		return err
	}
	if err := res.Validate(); err != nil {
		return fmt.Errorf("the generated configuration does not pass Envoy's validation (please report this): %w", err)
	}
	dump, err := envoy.ConfigDumpJSON(res, envoy.DumpOptions{})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(out, string(dump))
	return err
}

// load reads every -f path into one state, as one folder would be.
func (o *renderOptions) load() (*k8s.State, error) {
	return (&k8s.FilesSource{Paths: o.paths, Options: k8s.OptionsFrom(o.mesh)}).Load()
}

func (o *renderOptions) proxy(state *k8s.State) (envoy.Proxy, error) {
	if o.identity != "" {
		ns, sa, ok := strings.Cut(o.identity, "/")
		if !ok || ns == "" || sa == "" || strings.Contains(sa, "/") {
			return envoy.Proxy{}, fmt.Errorf("--identity %q: want <namespace>/<serviceaccount>", o.identity)
		}
		// An identity stands for its pods as injected with metrics on.
		return envoy.Proxy{Identity: identity.Identity{Namespace: ns, ServiceAccount: sa}, Metrics: true}, nil
	}
	ns, name, ok := strings.Cut(o.pod, "/")
	if !ok || ns == "" || name == "" {
		return envoy.Proxy{}, fmt.Errorf("--pod %q: want <namespace>/<name>", o.pod)
	}
	for _, p := range state.Pods {
		if p.Namespace != ns || p.Name != name {
			continue
		}
		scrape, _ := strconv.ParseBool(p.Annotations[catalog.AnnotationPrometheusScrape])
		proxy := envoy.Proxy{Identity: identity.FromPod(p), Metrics: scrape}
		grpc, err := proxyless.FromPod(p)
		if err != nil {
			return envoy.Proxy{}, fmt.Errorf("--pod %s: %w", o.pod, err)
		}
		if grpc {
			proxy.Kind = envoy.ProxyGRPC
		}
		for _, ip := range p.Status.PodIPs {
			proxy.IPs = append(proxy.IPs, ip.IP)
		}
		return proxy, nil
	}
	var names []string
	for _, p := range state.Pods {
		if p.Namespace == ns {
			names = append(names, p.Name)
		}
	}
	found := "none"
	if len(names) > 10 {
		names = append(names[:10], "...")
	}
	if len(names) > 0 {
		found = strings.Join(names, ", ")
	}
	return envoy.Proxy{}, fmt.Errorf("--pod %s: no such pod in the files (pods of namespace %s: %s; %s), or name the proxy with --identity",
		o.pod, ns, found, k8s.TemplatePodNames)
}
