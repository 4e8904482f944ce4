package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

func newPolicyCommand() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Check traffic policies",
		Example: `  weft policy check bookbuyer/bookbuyer-0 bookstore/bookstore:14001 --path /books-bought --method GET
  weft policy check-pods bookbuyer/bookbuyer-0 bookstore/bookstore-v1-0`,
		Args: cobra.NoArgs,
	}
	cmd.AddCommand(newPolicyCheckCommand(), newPolicyCheckPodsCommand())
	return cmd
}

// policyCheckOptions are `weft policy check`'s flags.
type policyCheckOptions struct {
	src          meshSource
	namespace    string
	path, method string
	headers      []string
	out          io.Writer
	sourceArg    string
	destination  string
}

// errDenied makes a denial exit non-zero once the answer is printed.
var errDenied = errors.New("denied")

func (o *policyCheckOptions) addFlags(cmd *cobra.Command) {
	o.src.add(cmd)
	f := cmd.Flags()
	f.StringVarP(&o.namespace, "namespace", "n", "default", "the namespace of a pod or service named without one")
	f.StringVar(&o.path, "path", "", "an HTTP request's path (with --method, default GET); without --path or --method, every request is considered")
	f.StringVar(&o.method, "method", "", "an HTTP request's method (with --path, default /)")
	f.StringArrayVarP(&o.headers, "header", "H", nil, "an HTTP request header, 'Name: value' (repeatable)")
}

func newPolicyCheckCommand() *cobra.Command {
	o := &policyCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check <source pod> <destination service[:port]> [--path P --method M] [-n namespace] [-f files...]",
		Short: "Say whether a pod may reach a service, and which policy (or its absence) decides it",
		Long: `check answers whether the source pod (its service account is its identity) may reach
a service's port, with an HTTP request when --path or --method is given, as weftd
programs the proxies: permissive traffic policy mode, SMI TrafficTargets with their
HTTPRouteGroup and TCPRoute rules, a TrafficSplit's backends for a split's root,
IngressBackends for a source outside the mesh, and for the proxy of a Gateway of
Weft's GatewayClass, the backends its HTTPRoutes reach. It names the policy that decides. Pods
and services are <namespace>/<name>, or <name> in --namespace. It reads the cluster, or
YAML files with -f. It exits non-zero when the answer is denied.`,
		Example: `  weft policy check bookbuyer/bookbuyer-0 bookstore/bookstore:14001 --path /books-bought --method GET \
    -H 'user-agent: go-http-client/1.1' -H 'client-app: bookbuyer'
  weft policy check bookthief-0 bookstore/bookstore -n bookthief -f examples/bookstore
  weft policy check bookstore/bookstore-v1-0 bookwarehouse/bookwarehouse:14001`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.out, o.sourceArg, o.destination = cmd.OutOrStdout(), args[0], args[1]
			return o.run(cmd.Context())
		},
	}
	o.addFlags(cmd)
	return cmd
}

// newPolicyCheckPodsCommand is OSM's `osm policy check-pods`: the destination
// is a pod, checked through each Service selecting it.
func newPolicyCheckPodsCommand() *cobra.Command {
	o := &policyCheckOptions{}
	cmd := &cobra.Command{
		Use:   "check-pods <source pod> <destination pod>",
		Short: "Say whether a pod may reach another, through each service the destination serves (OSM's check-pods)",
		Example: `  weft policy check-pods bookbuyer/bookbuyer-0 bookstore/bookstore-v1-0
  weft policy check-pods bookbuyer-0 bookstore-v1-0 -n bookstore -f examples/bookstore`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.out, o.sourceArg = cmd.OutOrStdout(), args[0]
			return o.runPods(cmd.Context(), args[1])
		},
	}
	o.addFlags(cmd)
	return cmd
}

// source is the checked pod with what the catalog needs of it.
type source struct {
	pod    *corev1.Pod
	id     identity.Identity
	ip     netip.Addr
	inMesh bool
}

func (o *policyCheckOptions) request() (*catalog.HTTPRequest, error) {
	if o.path == "" && o.method == "" && len(o.headers) == 0 {
		return nil, nil
	}
	r := &catalog.HTTPRequest{Path: o.path, Method: strings.ToUpper(o.method), Headers: map[string]string{}}
	if r.Path == "" {
		r.Path = "/"
	}
	if r.Method == "" {
		r.Method = "GET"
	}
	for _, h := range o.headers {
		name, value, ok := strings.Cut(h, ":")
		if !ok || strings.TrimSpace(name) == "" {
			return nil, fmt.Errorf("--header %q: want 'Name: value'", h)
		}
		r.Headers[strings.ToLower(strings.TrimSpace(name))] = strings.TrimSpace(value)
	}
	return r, nil
}

func splitName(arg, def string) (string, string, error) {
	ns, name, ok := strings.Cut(arg, "/")
	if !ok {
		ns, name = def, arg
	}
	if ns == "" || name == "" || strings.Contains(name, "/") {
		return "", "", fmt.Errorf("%q: want <namespace>/<name> or <name>", arg)
	}
	return ns, name, nil
}

func (o *policyCheckOptions) source(ctx context.Context, snap *meshSnapshot) (source, error) {
	ns, name, err := splitName(o.sourceArg, o.namespace)
	if err != nil {
		return source{}, fmt.Errorf("source pod %w", err)
	}
	p, err := snap.pod(ctx, ns, name)
	if err != nil {
		return source{}, err
	}
	s := source{pod: p, id: identity.FromPod(p), inMesh: snap.monitored(p.Namespace)}
	s.ip, _ = netip.ParseAddr(p.Status.PodIP)
	return s, nil
}

func (o *policyCheckOptions) run(ctx context.Context) error {
	req, err := o.request()
	if err != nil {
		return err
	}
	snap, err := o.src.load(ctx)
	if err != nil {
		return err
	}
	src, err := o.source(ctx, snap)
	if err != nil {
		return err
	}
	dest, port, err := o.parseDestination()
	if err != nil {
		return err
	}
	if !report(o.out, snap, src, dest, port, req) {
		return errDenied
	}
	return nil
}

// parseDestination reads <namespace>/<service>[:port] or <service>[:port],
// where the service may also be written as SMI and OSM users write it
// (name.namespace or the full DNS name) and the port by number or name.
func (o *policyCheckOptions) parseDestination() (catalog.ServiceRef, string, error) {
	arg, port, _ := strings.Cut(o.destination, ":")
	ns, name := o.namespace, arg
	if n, s, ok := strings.Cut(arg, "/"); ok {
		ns, name = n, s
	}
	svcNS, svcName, ok := rules.ServiceName(name, ns)
	if !ok || ns == "" {
		return catalog.ServiceRef{}, "", fmt.Errorf("destination %q: want <namespace>/<service>[:port] or <service>[:port]", o.destination)
	}
	return catalog.ServiceRef{Namespace: svcNS, Name: svcName}, port, nil
}

// report prints the answer for one destination and says whether it is allowed.
func report(out io.Writer, snap *meshSnapshot, src source, dest catalog.ServiceRef, portArg string, req *catalog.HTTPRequest) bool {
	w := &answer{out: out, snap: snap, src: src, req: req}
	svc := snap.model.Service(dest)
	if svc == nil {
		return w.outside(dest)
	}
	var port int32
	if portArg != "" {
		p, ok := servicePort(svc, portArg)
		if !ok {
			var ports []string
			for _, sp := range svc.Ports {
				ports = append(ports, fmt.Sprintf("%d (%s)", sp.Port, sp.Name))
			}
			w.line("denied: service %s has no port %s (its ports: %s)", dest, portArg, strings.Join(ports, ", "))
			return false
		}
		port = p
	}
	res := snap.model.CheckAccess(catalog.AccessRequest{Source: src.meshID(), SourceIP: src.ip, Service: dest, Port: port, HTTP: req})
	return w.result(dest, res)
}

func (s source) meshID() identity.Identity {
	if !s.inMesh {
		return identity.Identity{}
	}
	return s.id
}

func servicePort(svc *catalog.Service, arg string) (int32, bool) {
	for _, p := range svc.Ports {
		if p.Name == arg || strconv.Itoa(int(p.Port)) == arg {
			return p.Port, true
		}
	}
	return 0, false
}

func (o *policyCheckOptions) runPods(ctx context.Context, destArg string) error {
	req, err := o.request()
	if err != nil {
		return err
	}
	snap, err := o.src.load(ctx)
	if err != nil {
		return err
	}
	src, err := o.source(ctx, snap)
	if err != nil {
		return err
	}
	ns, name, err := splitName(destArg, o.namespace)
	if err != nil {
		return fmt.Errorf("destination pod %w", err)
	}
	dst, err := snap.pod(ctx, ns, name)
	if err != nil {
		return err
	}
	var services []catalog.ServiceRef
	for _, s := range snap.state.Services {
		if s.Namespace == dst.Namespace && len(s.Spec.Selector) > 0 &&
			labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(dst.Labels)) && snap.model.Service(catalog.ServiceRef{Namespace: s.Namespace, Name: s.Name}) != nil {
			services = append(services, catalog.ServiceRef{Namespace: s.Namespace, Name: s.Name})
		}
	}
	if len(services) == 0 {
		fmt.Fprintf(o.out, "denied: pod %s/%s serves no service of the mesh, so nothing in the mesh reaches it\n", dst.Namespace, dst.Name)
		return errDenied
	}
	allowed := true
	for i, s := range services {
		if i > 0 {
			fmt.Fprintln(o.out)
		}
		fmt.Fprintf(o.out, "through service %s:\n", s)
		allowed = report(o.out, snap, src, s, "", req) && allowed
	}
	if !allowed {
		return errDenied
	}
	return nil
}
