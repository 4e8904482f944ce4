package injector_test

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/weft-mesh/weft/injector"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
)

var update = flag.Bool("update", false, "rewrite golden files")

const testProxyID = "6f1c5b0e-8f43-4d3a-9a57-1d2b3c4d5e6f"

func TestInjectGolden(t *testing.T) {
	custom := &configv1alpha2.MeshConfig{}
	custom.Spec.Sidecar.EnvoyImage = "registry.example.com/envoy:v1.36.2"
	custom.Spec.Sidecar.InitContainerImage = "registry.example.com/weft-init:v0.1.0"
	custom.Spec.Sidecar.LogLevel = "debug"
	custom.Spec.Sidecar.EnablePrivilegedInitContainer = true
	custom.Spec.Sidecar.Resources = corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi")},
	}
	custom.Spec.Traffic.OutboundPortExclusionList = []configv1alpha2.Port{6379}
	custom.Spec.Traffic.OutboundIPRangeExclusionList = []string{"169.254.169.254/32"}

	probed := appPod("bookstore")
	probed.Annotations = map[string]string{"openservicemesh.io/inbound-port-exclusion-list": "9000"}
	probed.Spec.InitContainers = []corev1.Container{{Name: "migrate", Image: "example.com/migrate:v1"}}
	probed.Spec.Containers[0].Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
	probed.Spec.Containers[0].LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}}}
	probed.Spec.Containers[0].ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(8080)}}, PeriodSeconds: 3}
	probed.Spec.Containers[0].StartupProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 8081}}}

	tests := []struct {
		name   string
		golden string
		pod    *corev1.Pod
		in     injector.Injection
	}{
		{name: "a plain pod gets the sidecar, the init container, the bootstrap volume and the proxy label",
			golden: "default.yaml", pod: appPod("bookbuyer"), in: injector.Injection{ProxyID: testProxyID}},
		{name: "the MeshConfig's images, resources, log level, privilege and exclusions apply, and metrics add scrape annotations",
			golden: "meshconfig.yaml", pod: appPod("bookbuyer"), in: injector.Injection{ProxyID: testProxyID, MeshConfig: custom, Metrics: true}},
		{name: "the app's probes are rewritten through the sidecar and its init containers run first",
			golden: "probes.yaml", pod: probed, in: injector.Injection{ProxyID: testProxyID}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, _ := json.Marshal(tt.pod)
			got, err := injector.Inject(tt.pod, tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if after, _ := json.Marshal(tt.pod); string(after) != string(before) {
				t.Error("Inject changed the pod it was given")
			}
			out, err := yaml.Marshal(got)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join("testdata", "inject", tt.golden)
			if *update {
				if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != string(want) {
				t.Errorf("injected pod differs from %s (rerun with -update and review the diff):\n%s", path, out)
			}
		})
	}
}

func TestInjectRejectsBadExclusionAnnotations(t *testing.T) {
	pod := appPod("bookstore")
	pod.Annotations = map[string]string{"openservicemesh.io/outbound-port-exclusion-list": "redis"}
	_, err := injector.Inject(pod, injector.Injection{ProxyID: testProxyID})
	want := `annotation openservicemesh.io/outbound-port-exclusion-list: "redis" is not a port number`
	if err == nil || err.Error() != want {
		t.Errorf("error = %v, want %q", err, want)
	}
}

func TestProbeRewriting(t *testing.T) {
	http := func(port intstr.IntOrString, path string, scheme corev1.URIScheme) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Port: port, Path: path, Scheme: scheme}}}
	}
	tcp := func(port int32) *corev1.Probe {
		return &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(port)}}}
	}
	type probes struct{ liveness, readiness, startup *corev1.Probe }
	app := func(name string, p probes, ports ...corev1.ContainerPort) corev1.Container {
		return corev1.Container{Name: name, Ports: ports, LivenessProbe: p.liveness, ReadinessProbe: p.readiness, StartupProbe: p.startup}
	}
	tests := []struct {
		name        string
		containers  []corev1.Container
		annotations map[string]string
		want        []injector.HealthProbe
		// wantProbes are the containers' probes after injection, as
		// "<container>/<kind>" -> port and path.
		wantProbes map[string]string
	}{
		{
			name:       "HTTP probes of each kind go to 15901, 15902 and 15903 at OSM's paths",
			containers: []corev1.Container{app("app", probes{http(intstr.FromInt32(8080), "/live", ""), http(intstr.FromInt32(8080), "/ready", corev1.URISchemeHTTP), http(intstr.FromInt32(8081), "/start", "")})},
			want: []injector.HealthProbe{
				{Container: "app", Kind: injector.ProbeLiveness, Port: 15901, Path: "/osm-liveness-probe", Original: injector.OriginalProbe{Scheme: "HTTP", Port: 8080, Path: "/live"}},
				{Container: "app", Kind: injector.ProbeReadiness, Port: 15902, Path: "/osm-readiness-probe", Original: injector.OriginalProbe{Scheme: "HTTP", Port: 8080, Path: "/ready"}},
				{Container: "app", Kind: injector.ProbeStartup, Port: 15903, Path: "/osm-startup-probe", Original: injector.OriginalProbe{Scheme: "HTTP", Port: 8081, Path: "/start"}},
			},
			wantProbes: map[string]string{"app/liveness": "15901 /osm-liveness-probe", "app/readiness": "15902 /osm-readiness-probe", "app/startup": "15903 /osm-startup-probe"},
		},
		{
			name: "a second container's HTTP probe of the same kind shares the port at a path naming it",
			containers: []corev1.Container{
				app("app", probes{liveness: http(intstr.FromInt32(8080), "/live", "")}),
				app("cache", probes{liveness: http(intstr.FromString("admin"), "/ping", "")}, corev1.ContainerPort{Name: "admin", ContainerPort: 9090}),
			},
			want: []injector.HealthProbe{
				{Container: "app", Kind: injector.ProbeLiveness, Port: 15901, Path: "/osm-liveness-probe", Original: injector.OriginalProbe{Scheme: "HTTP", Port: 8080, Path: "/live"}},
				{Container: "cache", Kind: injector.ProbeLiveness, Port: 15901, Path: "/osm-liveness-probe/cache", Original: injector.OriginalProbe{Scheme: "HTTP", Port: 9090, Path: "/ping"}},
			},
			wantProbes: map[string]string{"app/liveness": "15901 /osm-liveness-probe", "cache/liveness": "15901 /osm-liveness-probe/cache"},
		},
		{
			name:       "an HTTPS probe keeps its path and scheme and is passed through on its kind's port",
			containers: []corev1.Container{app("app", probes{readiness: http(intstr.FromInt32(8443), "/ready", corev1.URISchemeHTTPS)})},
			want: []injector.HealthProbe{
				{Container: "app", Kind: injector.ProbeReadiness, Port: 15902, Path: "/ready", Original: injector.OriginalProbe{Scheme: "HTTPS", Port: 8443, Path: "/ready"}},
			},
			wantProbes: map[string]string{"app/readiness": "15902 /ready"},
		},
		{
			name: "an HTTPS probe whose kind's port is taken is left alone",
			containers: []corev1.Container{
				app("app", probes{liveness: http(intstr.FromInt32(8080), "/live", "")}),
				app("tls", probes{liveness: http(intstr.FromInt32(8443), "/live", corev1.URISchemeHTTPS)}),
			},
			want: []injector.HealthProbe{
				{Container: "app", Kind: injector.ProbeLiveness, Port: 15901, Path: "/osm-liveness-probe", Original: injector.OriginalProbe{Scheme: "HTTP", Port: 8080, Path: "/live"}},
			},
			wantProbes: map[string]string{"app/liveness": "15901 /osm-liveness-probe", "tls/liveness": "8443 /live"},
		},
		{
			name:       "TCP probes of one port go to 15904; a TCP probe of another port is left alone",
			containers: []corev1.Container{app("app", probes{liveness: tcp(5432), readiness: tcp(5432), startup: tcp(5433)})},
			want: []injector.HealthProbe{
				{Container: "app", Kind: injector.ProbeLiveness, Port: 15904, Original: injector.OriginalProbe{Scheme: "TCP", Port: 5432}},
				{Container: "app", Kind: injector.ProbeReadiness, Port: 15904, Original: injector.OriginalProbe{Scheme: "TCP", Port: 5432}},
			},
			wantProbes: map[string]string{"app/liveness": "15904", "app/readiness": "15904", "app/startup": "5433"},
		},
		{
			name: "gRPC and exec probes, probes of another host, unknown named ports and excluded inbound ports are left alone",
			containers: []corev1.Container{app("app", probes{
				liveness:  &corev1.Probe{ProbeHandler: corev1.ProbeHandler{GRPC: &corev1.GRPCAction{Port: 8081}}},
				readiness: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{Command: []string{"true"}}}},
				startup:   &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Host: "10.0.0.1", Port: intstr.FromInt32(80)}}},
			}), app("other", probes{liveness: http(intstr.FromString("missing"), "/", ""), readiness: http(intstr.FromInt32(9000), "/", "")})},
			annotations: map[string]string{"openservicemesh.io/inbound-port-exclusion-list": "9000"},
			wantProbes:  map[string]string{"app/startup": "80 ", "other/liveness": "missing /", "other/readiness": "9000 /"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := appPod("bookstore")
			pod.Annotations = tt.annotations
			pod.Spec.Containers = tt.containers
			got, err := injector.Inject(pod, injector.Injection{ProxyID: testProxyID})
			if err != nil {
				t.Fatal(err)
			}
			recorded, err := injector.HealthProbes(got.Annotations)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(recorded, tt.want) {
				t.Errorf("recorded probes:\n got %+v\nwant %+v", recorded, tt.want)
			}
			for key, want := range tt.wantProbes {
				if got := probeTarget(got, key); got != want {
					t.Errorf("%s probe targets %q, want %q", key, got, want)
				}
			}
		})
	}
}

// probeTarget returns "<port> <path>" for an HTTP probe and "<port>" for a
// TCP probe named "<container>/<kind>".
func probeTarget(pod *corev1.Pod, key string) string {
	dir, kind := filepath.Split(key)
	c := container(pod, dir[:len(dir)-1])
	if c == nil {
		return "no container"
	}
	p := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe}[kind]
	switch {
	case p == nil:
		return "no probe"
	case p.HTTPGet != nil:
		return p.HTTPGet.Port.String() + " " + p.HTTPGet.Path
	case p.TCPSocket != nil:
		return p.TCPSocket.Port.String()
	}
	return "other"
}
