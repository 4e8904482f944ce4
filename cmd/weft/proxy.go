//lint:file-ignore SA1019 client-go's portforward dialers still return apimachinery's httpstream.Connection

package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/transport/spdy"

	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/proxyless"
)

func newProxyCommand() *cobra.Command {
	return parent(&cobra.Command{
		Use:     "proxy",
		Short:   "Interact with the mesh's proxies",
		Example: "  weft proxy get config_dump bookbuyer-5ccf77f46d-rc5mg -n bookbuyer\n  weft proxy status -n bookbuyer",
	},
		newProxyGetCommand(),
		newProxyStatusCommand(),
	)
}

// adminQueries are the Envoy admin GET queries users ask for most; any other
// is passed on as it is, as OSM did (Envoy answers a GET to an endpoint that
// changes state with 405: mutations need POST, which this never sends).
var adminQueries = []string{"config_dump", "stats", "clusters", "listeners", "ready", "logging", "certs", "server_info", "memory", "runtime"}

type proxyGetOptions struct {
	kube    kubeFlags
	outFile string
	// admin fetches from a pod's Envoy admin interface; tests replace it.
	admin func(k *kubeFlags) (adminGetter, error)
}

// adminGetter fetches path from the Envoy admin interface of pod's sidecar.
type adminGetter interface {
	Get(ctx context.Context, pod *corev1.Pod, path string) ([]byte, error)
}

func newProxyGetCommand() *cobra.Command {
	o := proxyGetOptions{admin: portForwardAdmin}
	cmd := &cobra.Command{
		Use:   "get <query> <pod>",
		Short: "Ask a pod's Envoy sidecar for its configuration, stats or state (its admin interface)",
		Long: fmt.Sprintf(`get sends GET /<query> to the Envoy admin interface (port %d) of the pod's sidecar,
through the API server's port-forward to the pod (the RBAC permission create pods/portforward),
and prints the answer. A query may carry parameters, as "stats?format=json". Common ones:

  %s

See https://www.envoyproxy.io/docs/envoy/latest/operations/admin.

The pod must be meshed: it carries the %s label and an %q container.`,
			envoy.AdminPort, strings.Join(adminQueries, ", "), injector.LabelProxyUUID, injector.EnvoyContainerName),
		Example: `  # The config dump of a pod in the bookbuyer namespace
  weft proxy get config_dump bookbuyer-5ccf77f46d-rc5mg -n bookbuyer

  # Its clusters, into a file
  weft proxy get clusters bookbuyer-5ccf77f46d-rc5mg -n bookbuyer -f clusters.txt

  # Its stats as JSON, in another kubeconfig context
  weft proxy get "stats?format=json" bookbuyer-5ccf77f46d-rc5mg -n bookbuyer --context prod`,
		Args: cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			return o.run(cmd.Context(), cmd.OutOrStdout(), args[0], args[1])
		},
	}
	o.kube.addClusterWithNamespace(cmd)
	cmd.Flags().StringVarP(&o.outFile, "file", "f", "", "write the answer to this file instead of stdout")
	return cmd
}

func (o *proxyGetOptions) run(ctx context.Context, out io.Writer, query, podName string) error {
	query = strings.TrimPrefix(query, "/")
	if query == "" {
		return fmt.Errorf("empty query: ask for one of %s", strings.Join(adminQueries, ", "))
	}
	namespace, err := o.kube.namespace()
	if err != nil {
		return err
	}
	c, err := o.kube.client()
	if err != nil {
		return err
	}
	pod, err := c.CoreV1().Pods(namespace).Get(ctx, podName, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return fmt.Errorf("no pod %s in namespace %s", podName, namespace)
	} else if err != nil {
		return fmt.Errorf("reading pod %s/%s: %w", namespace, podName, err)
	}
	if err := checkMeshedPod(pod); err != nil {
		return err
	}
	admin, err := o.admin(&o.kube)
	if err != nil {
		return err
	}
	body, err := admin.Get(ctx, pod, "/"+query)
	if err != nil {
		return fmt.Errorf("pod %s/%s: %w", namespace, podName, err)
	}
	if o.outFile != "" {
		return os.WriteFile(o.outFile, body, 0o644)
	}
	_, err = out.Write(body)
	return err
}

// checkMeshedPod refuses a pod whose Envoy admin interface there is no point
// asking for: not injected, proxyless, or not running.
func checkMeshedPod(pod *corev1.Pod) error {
	name := pod.Namespace + "/" + pod.Name
	if _, ok := pod.Labels[injector.LabelProxyUUID]; !ok {
		return fmt.Errorf("pod %s is not in a mesh: it has no %s label (was its namespace added with `weft namespace add` before the pod was created?)", name, injector.LabelProxyUUID)
	}
	if !slices.ContainsFunc(pod.Spec.Containers, func(c corev1.Container) bool { return c.Name == injector.EnvoyContainerName }) {
		if grpc, _ := proxyless.FromPod(pod); grpc {
			return fmt.Errorf("pod %s is a proxyless gRPC workload (%s: %s): it runs no Envoy to ask", name, proxyless.Annotation, proxyless.KindGRPC)
		}
		return fmt.Errorf("pod %s is not in a mesh: it has no %q sidecar container", name, injector.EnvoyContainerName)
	}
	if pod.Status.Phase != corev1.PodRunning {
		return fmt.Errorf("pod %s is not running (phase %q)", name, pod.Status.Phase)
	}
	return nil
}

// portForwardAdmin reaches the admin interface through the API server's
// port-forward to the pod, as `kubectl port-forward` does.
func portForwardAdmin(k *kubeFlags) (adminGetter, error) {
	cfg, err := k.restConfig()
	if err != nil {
		return nil, err
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return portForwarder{config: cfg, client: c}, nil
}

type portForwarder struct {
	config *rest.Config
	client kubernetes.Interface
	// spdyOnly skips WebSockets, as for an API server older than 1.30.
	spdyOnly bool
}

var _ adminGetter = portForwarder{}

// Get opens one port-forward stream to the admin port and sends the request
// on it: no local port is listened on, and the kubelet's error for the
// stream (nothing listening, say) is returned rather than logged.
func (p portForwarder) Get(ctx context.Context, pod *corev1.Pod, path string) ([]byte, error) {
	conn, err := p.dial(pod)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	headers := http.Header{}
	headers.Set(corev1.StreamType, corev1.StreamTypeError)
	headers.Set(corev1.PortHeader, strconv.Itoa(envoy.AdminPort))
	headers.Set(corev1.PortForwardRequestIDHeader, "0")
	errorStream, err := conn.CreateStream(headers)
	if err != nil {
		return nil, fmt.Errorf("port-forward: opening the error stream: %w", err)
	}
	errorStream.Close() // nothing is written on it
	streamErr := make(chan error, 1)
	go func() {
		msg, err := io.ReadAll(errorStream)
		switch {
		case err != nil:
			streamErr <- fmt.Errorf("port-forward: reading the error stream: %w", err)
		case len(msg) > 0:
			streamErr <- fmt.Errorf("port-forward to port %d: %s", envoy.AdminPort, msg)
		}
		close(streamErr)
	}()
	headers.Set(corev1.StreamType, corev1.StreamTypeData)
	data, err := conn.CreateStream(headers)
	if err != nil {
		return nil, fmt.Errorf("port-forward: opening the data stream: %w", err)
	}

	type answer struct {
		resp *http.Response
		body []byte
		err  error
	}
	answered := make(chan answer, 1)
	go func() {
		resp, body, err := adminRoundTrip(data, path)
		answered <- answer{resp, body, err}
	}()
	var a answer
	select {
	case a = <-answered:
	case err := <-streamErr:
		if err != nil {
			return nil, err
		}
		a = <-answered
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	if a.resp == nil {
		// No answer: the kubelet's reason, when it gives one, says more.
		select {
		case err := <-streamErr:
			if err != nil {
				return nil, err
			}
		case <-time.After(time.Second):
		}
		return nil, a.err
	}
	if a.resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("the sidecar answered GET %s with %s: %s", path, a.resp.Status, strings.TrimSpace(string(a.body)))
	}
	return a.body, a.err
}

// dial connects to the pod's portforward subresource: over WebSockets, or
// SPDY for an API server that cannot upgrade to them (kubectl's order).
func (p portForwarder) dial(pod *corev1.Pod) (httpstream.Connection, error) {
	u := p.client.CoreV1().RESTClient().Post().Resource("pods").Namespace(pod.Namespace).Name(pod.Name).SubResource("portforward").URL()
	transport, upgrader, err := spdy.RoundTripperFor(p.config)
	if err != nil {
		return nil, err
	}
	dialer := spdy.NewDialer(upgrader, &http.Client{Transport: transport}, http.MethodPost, u)
	if !p.spdyOnly {
		ws, err := portforward.NewSPDYOverWebsocketDialer(u, p.config)
		if err != nil {
			return nil, err
		}
		dialer = portforward.NewFallbackDialer(ws, dialer, func(err error) bool {
			return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
		})
	}
	conn, protocol, err := dialer.Dial(portforward.PortForwardProtocolV1Name)
	if err != nil {
		return nil, fmt.Errorf("port-forward to pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	if protocol != portforward.PortForwardProtocolV1Name {
		conn.Close()
		return nil, fmt.Errorf("port-forward to pod %s/%s: the API server speaks %q, not %q", pod.Namespace, pod.Name, protocol, portforward.PortForwardProtocolV1Name)
	}
	return conn, nil
}

// adminRoundTrip sends GET path on stream and reads the answer; resp is nil
// when none came.
func adminRoundTrip(stream io.ReadWriteCloser, path string) (resp *http.Response, body []byte, err error) {
	req, err := http.NewRequest(http.MethodGet, "http://localhost"+path, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("query %q: %w", path, err)
	}
	req.Close = true
	if err := req.Write(stream); err != nil {
		return nil, nil, fmt.Errorf("sending GET %s: %w", path, err)
	}
	resp, err = http.ReadResponse(bufio.NewReader(stream), req)
	if err != nil {
		return nil, nil, fmt.Errorf("no answer from Envoy's admin interface on port %d: %w", envoy.AdminPort, err)
	}
	defer resp.Body.Close()
	body, err = io.ReadAll(resp.Body)
	if err != nil {
		return resp, nil, fmt.Errorf("reading the answer to GET %s: %w", path, err)
	}
	return resp, body, nil
}
