package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"

	"github.com/weft-mesh/weft/pkg/mesh"
	"github.com/weft-mesh/weft/pkg/xds"
)

const (
	// weftdName is weftd's Service in the mesh namespace, and
	// weftdSelector selects its pods, as the chart names them.
	weftdName     = "weftd"
	weftdSelector = "app.kubernetes.io/name=weftd"
	// proxyStatusPath is served on weftd's health listener.
	proxyStatusPath = "/debug/proxy-status"
)

// weftdHealthPort is weftd's health listener (--health-addr :9091, the
// Service's port http-metrics); a variable so tests can run weftd elsewhere.
var weftdHealthPort = "9091"

// statusTypes are the columns of the table, in istioctl's order.
var statusTypes = []string{"CDS", "LDS", "EDS", "RDS", "SDS"}

func newProxyStatusCommand() *cobra.Command {
	var (
		k             kubeFlags
		meshNamespace string
		namespace     string
		output        string
	)
	cmd := &cobra.Command{
		Use:   "status [pod]",
		Short: "Show whether each proxy has taken the configuration weftd last sent it",
		Long: `Show, for every proxy connected to weftd (or the given pod's), whether it has
taken each type of configuration weftd last sent it:

  SYNCED    the proxy acknowledged the version last sent
  NOT SENT  weftd has sent none of this type (the proxy has not asked for it)
  STALE     sent, not yet acknowledged
  NACKED    the proxy rejected the version last sent and keeps its previous
            one; the proxy's message follows (in a column with -o wide)

VERSION digests the versions a proxy acknowledged: proxies of one identity in
sync show the same.

Each weftd replica serves the proxies whose streams it holds, so the status is
read from every replica (the pods labelled ` + weftdSelector + ` in the mesh
namespace) through the API server's pod proxy and merged; with no pod listed,
through weftd's Service, which reaches one replica. Kubernetes RBAC on
pods/proxy (or services/proxy) in the mesh namespace decides who may read it.`,
		Example: `  weft proxy status
  weft proxy status -n bookstore
  weft proxy status bookstore-v1-7d9c8-x2lqk -n bookstore -o wide`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !slices.Contains([]string{"", "wide", "json", "yaml"}, output) {
				return fmt.Errorf("--output %q: want wide, json or yaml", output)
			}
			params := map[string]string{}
			switch {
			case len(args) == 1:
				if namespace == "" {
					var err error
					if namespace, err = k.namespace(); err != nil {
						return err
					}
				}
				params["pod"] = namespace + "/" + args[0]
			case namespace != "":
				params["namespace"] = namespace
			}
			c, err := k.client()
			if err != nil {
				return err
			}
			statuses, err := fetchProxyStatus(cmd.Context(), c, meshNamespace, params, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if len(args) == 1 && len(statuses) == 0 {
				return fmt.Errorf("pod %s has no proxy connected to weftd (is it meshed, and running?)", params["pod"])
			}
			return printProxyStatus(cmd.OutOrStdout(), statuses, output)
		},
	}
	k.add(cmd)
	f := cmd.Flags()
	f.StringVar(&meshNamespace, "mesh-namespace", mesh.Defaults().Namespace, "the namespace weftd runs in")
	f.StringVar(&meshNamespace, "osm-namespace", mesh.Defaults().Namespace, "the same as --mesh-namespace, OSM's name for it")
	f.StringVarP(&namespace, "namespace", "n", "", "the pod's namespace (default: the kubeconfig context's); without a pod, show only this namespace's proxies (default: every namespace's)")
	f.StringVarP(&output, "output", "o", "", "wide (proxy IDs, replicas and NACK messages in columns), json or yaml")
	return cmd
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// replicaStatus is a proxy's status and the weftd replica that holds its
// stream.
type replicaStatus struct {
	xds.ProxyStatus
	Replica string `json:"replica,omitempty"`
}

// fetchProxyStatus reads the status from every weftd replica's pod, or, when
// none is listed, through weftd's Service. A replica that does not answer is
// reported on warn; only when none answers is it an error.
func fetchProxyStatus(ctx context.Context, c kubernetes.Interface, meshNamespace string, params map[string]string, warn io.Writer) ([]replicaStatus, error) {
	pods, listErr := c.CoreV1().Pods(meshNamespace).List(ctx, metav1.ListOptions{LabelSelector: weftdSelector})
	var replicas []string
	if listErr == nil {
		for _, p := range pods.Items {
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil {
				replicas = append(replicas, p.Name)
			}
		}
	}
	if len(replicas) == 0 {
		body, err := c.CoreV1().Services(meshNamespace).ProxyGet("http", weftdName, weftdHealthPort, proxyStatusPath, params).DoRaw(ctx)
		if err != nil {
			why := "no running pod labelled " + weftdSelector
			if listErr != nil {
				why = "listing its pods: " + listErr.Error()
			}
			return nil, fmt.Errorf("cannot read the proxies' status from weftd in namespace %s (%s), nor through its Service %s/%s port %s: %w "+
				"(is the mesh installed in %s? else set --mesh-namespace)", meshNamespace, why, meshNamespace, weftdName, weftdHealthPort, err, meshNamespace)
		}
		return decodeStatus(body, "")
	}
	var (
		out  []replicaStatus
		errs []error
	)
	for _, name := range replicas {
		body, err := c.CoreV1().Pods(meshNamespace).ProxyGet("http", name, weftdHealthPort, proxyStatusPath, params).DoRaw(ctx)
		if err == nil {
			var got []replicaStatus
			if got, err = decodeStatus(body, name); err == nil {
				out = append(out, got...)
				continue
			}
		}
		errs = append(errs, fmt.Errorf("weftd pod %s/%s port %s: %w", meshNamespace, name, weftdHealthPort, err))
	}
	if len(errs) == len(replicas) {
		return nil, fmt.Errorf("cannot read the proxies' status from weftd in namespace %s: %w", meshNamespace, errors.Join(errs...))
	}
	for _, err := range errs {
		fmt.Fprintf(warn, "warning: %v; its proxies are not shown\n", err)
	}
	return merge(out), nil
}

func decodeStatus(body []byte, replica string) ([]replicaStatus, error) {
	var list []xds.ProxyStatus
	if err := json.Unmarshal(body, &list); err != nil {
		return nil, fmt.Errorf("reading weftd's answer: %w", err)
	}
	out := make([]replicaStatus, 0, len(list))
	for _, s := range list {
		out = append(out, replicaStatus{ProxyStatus: s, Replica: replica})
	}
	return out, nil
}

// merge keeps one status per proxy, the newest stream's when a proxy moved
// between replicas while they were read, sorted by pod and proxy ID.
func merge(in []replicaStatus) []replicaStatus {
	byID := map[string]replicaStatus{}
	for _, s := range in {
		if old, ok := byID[s.ID]; !ok || s.ConnectedSince.After(old.ConnectedSince) {
			byID[s.ID] = s
		}
	}
	out := make([]replicaStatus, 0, len(byID))
	for _, s := range byID {
		out = append(out, s)
	}
	slices.SortFunc(out, func(a, b replicaStatus) int {
		return strings.Compare(podOf(a)+"\x00"+a.ID, podOf(b)+"\x00"+b.ID)
	})
	return out
}

// podOf names a proxy's pod, or its namespace and "?" when weftd knows no pod
// for it.
func podOf(s replicaStatus) string {
	if s.PodName == "" {
		return s.Identity.Namespace + "/?"
	}
	return s.PodNamespace + "/" + s.PodName
}

// typeState is a type's column: SYNCED, NOT SENT, STALE or NACKED.
func typeState(t xds.TypeStatus) string {
	switch {
	case t.Sent == "":
		return "NOT SENT"
	case t.Nack != nil:
		return "NACKED"
	case t.Acked == t.Sent:
		return "SYNCED"
	default:
		return "STALE"
	}
}

// configVersion digests the acknowledged versions, "-" when none.
func configVersion(s xds.ProxyStatus) string {
	h := sha256.New()
	acked := false
	for _, typ := range statusTypes {
		v := s.Types[typ].Acked
		acked = acked || v != ""
		fmt.Fprintf(h, "%s=%s;", typ, v)
	}
	if !acked {
		return "-"
	}
	return hex.EncodeToString(h.Sum(nil))[:12]
}

func printProxyStatus(w io.Writer, statuses []replicaStatus, output string) error {
	switch output {
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(statuses)
	case "yaml":
		b, err := yaml.Marshal(statuses)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	if len(statuses) == 0 {
		_, err := fmt.Fprintln(w, "No proxy is connected to weftd.")
		return err
	}
	wide := output == "wide"
	tw := tabwriter.NewWriter(w, 0, 8, 3, ' ', 0)
	header := "POD\tIDENTITY\tKIND\t" + strings.Join(statusTypes, "\t") + "\tVERSION"
	if wide {
		header += "\tPROXY\tCONNECTED\tWEFTD\tNACK"
	}
	fmt.Fprintln(tw, header)
	var nacks []string
	for _, s := range statuses {
		row := []string{podOf(s), s.Identity.String(), string(s.Kind)}
		var messages []string
		for _, typ := range statusTypes {
			t := s.Types[typ]
			row = append(row, typeState(t))
			if t.Nack != nil {
				messages = append(messages, fmt.Sprintf("%s version %s: %s", typ, t.Nack.Version, oneLine(t.Nack.Message)))
			}
		}
		row = append(row, configVersion(s.ProxyStatus))
		if wide {
			row = append(row, s.ID, s.ConnectedSince.UTC().Format(time.RFC3339), orDefault(s.Replica, "-"), orDefault(strings.Join(messages, "; "), "-"))
		} else {
			for _, m := range messages {
				nacks = append(nacks, podOf(s)+": "+m)
			}
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(nacks) > 0 {
		fmt.Fprintln(w, "\nNACKed (the proxies keep their previous version):")
		for _, n := range nacks {
			fmt.Fprintln(w, "  "+n)
		}
	}
	return nil
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
