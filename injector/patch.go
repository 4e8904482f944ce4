package injector

import (
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"

	"github.com/weft-mesh/weft/injector/redirect"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/proxyless"
)

// Names, images and paths of what Inject adds to a pod.
const (
	// EnvoyContainerName is the sidecar container.
	EnvoyContainerName = "envoy"
	// InitContainerName is the init container that installs the redirection
	// rules; OSM's name, so existing tooling finds it.
	InitContainerName = "osm-init"
	// DefaultEnvoyImage is the sidecar image when MeshConfig
	// spec.sidecar.envoyImage is empty. Installs set it in the MeshConfig.
	DefaultEnvoyImage = "envoyproxy/envoy:distroless-v1.36.2"
	// DefaultInitContainerImage is the init container image when MeshConfig
	// spec.sidecar.initContainerImage is empty.
	DefaultInitContainerImage = "ghcr.io/weft-mesh/weft-init:latest"
	// BootstrapVolumeName is the pod volume holding the bootstrap Secret.
	BootstrapVolumeName = "envoy-bootstrap-config-volume"
	// BootstrapMountPath is where the envoy container reads the Secret's files.
	BootstrapMountPath = "/etc/envoy"

	initCommand = "weft-init"
)

// Prometheus scrape annotations added when the namespace enables metrics.
const (
	AnnotationPrometheusScrape = "prometheus.io/scrape"
	AnnotationPrometheusPort   = "prometheus.io/port"
	AnnotationPrometheusPath   = "prometheus.io/path"
)

// PrometheusAnnotations are the scrape annotations of a meshed pod whose
// metrics are on: Prometheus scrapes the sidecar's listener, which weftd
// gives only pods that carry them.
func PrometheusAnnotations() map[string]string {
	return map[string]string{
		AnnotationPrometheusScrape: "true",
		AnnotationPrometheusPort:   fmt.Sprint(redirect.PrometheusPort),
		AnnotationPrometheusPath:   "/stats/prometheus",
	}
}

// Injection is what a pod's patch depends on besides the pod itself.
type Injection struct {
	// ProxyID is the proxy's lower-case UUID (the osm-proxy-uuid label).
	ProxyID string
	// MeshConfig supplies images, resources, the log level, the privileged
	// flag and the mesh-wide redirection exclusions; nil means defaults.
	MeshConfig *configv1alpha2.MeshConfig
	// Metrics adds the Prometheus scrape annotations (the namespace has
	// openservicemesh.io/metrics: enabled).
	Metrics bool
}

// Inject returns a copy of pod with the sidecar added: the envoy container
// (appended, reading its bootstrap Secret from BootstrapMountPath), the osm-init
// container (appended to the init containers, so the app's own init containers
// run before traffic is redirected), the bootstrap volume, the osm-proxy-uuid
// label, the app's HTTP and TCP probes rewritten through the sidecar with their
// originals recorded in AnnotationHealthProbes, and the Prometheus annotations
// when in.Metrics. The pod itself is not changed. It fails only when the pod's
// redirection annotations (or the MeshConfig's exclusions) do not parse.
//
// A pod annotated weft.dev/proxyless: grpc gets InjectProxyless instead.
func Inject(pod *corev1.Pod, in Injection) (*corev1.Pod, error) {
	grpc, err := proxyless.FromPod(pod)
	if err != nil {
		return nil, err
	}
	if grpc {
		return InjectProxyless(pod, in.ProxyID), nil
	}
	mesh := in.MeshConfig
	if mesh == nil {
		mesh = &configv1alpha2.MeshConfig{Spec: configv1alpha2.SpecOrDefault(nil)}
	}
	rules, err := redirect.ForPod(meshDefaults(mesh), pod.Annotations)
	if err != nil {
		return nil, err
	}
	out := pod.DeepCopy()
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	out.Labels[LabelProxyUUID] = in.ProxyID
	if out.Annotations == nil {
		out.Annotations = map[string]string{}
	}
	if probes := rewriteProbes(out, rules.InboundPortExclusions); len(probes) > 0 {
		encoded, err := encodeHealthProbes(probes)
		if err != nil {
			return nil, err
		}
		out.Annotations[AnnotationHealthProbes] = encoded
	}
	if in.Metrics {
		for k, v := range PrometheusAnnotations() {
			out.Annotations[k] = v
		}
	}
	out.Spec.Volumes = append(out.Spec.Volumes, bootstrapVolume(in.ProxyID))
	out.Spec.InitContainers = append(out.Spec.InitContainers, initContainer(mesh, rules))
	out.Spec.Containers = append(out.Spec.Containers, envoyContainer(mesh))
	return out, nil
}

// InjectProxyless returns a copy of a proxyless gRPC pod made a workload of
// the mesh with no sidecar and no redirection: the osm-proxy-uuid label, and
// its bootstrap Secret mounted read-only at ProxylessMountPath in every
// container, with GRPC_XDS_BOOTSTRAP naming the bootstrap there (replacing a
// value the pod set: its gRPC would otherwise not be the mesh's).
func InjectProxyless(pod *corev1.Pod, proxyID string) *corev1.Pod {
	out := pod.DeepCopy()
	if out.Labels == nil {
		out.Labels = map[string]string{}
	}
	out.Labels[LabelProxyUUID] = proxyID
	out.Spec.Volumes = append(out.Spec.Volumes, bootstrapVolume(proxyID))
	for i := range out.Spec.Containers {
		c := &out.Spec.Containers[i]
		c.VolumeMounts = append(c.VolumeMounts, corev1.VolumeMount{Name: BootstrapVolumeName, MountPath: ProxylessMountPath, ReadOnly: true})
		c.Env = slices.DeleteFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == ProxylessBootstrapEnv })
		c.Env = append(c.Env, corev1.EnvVar{Name: ProxylessBootstrapEnv, Value: ProxylessMountPath + "/" + proxyless.BootstrapFile})
	}
	return out
}

// ProxylessBootstrapEnv is the variable gRPC reads its xDS bootstrap's path from.
const ProxylessBootstrapEnv = "GRPC_XDS_BOOTSTRAP"

func bootstrapVolume(proxyID string) corev1.Volume {
	return corev1.Volume{
		Name: BootstrapVolumeName,
		VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{
			// Readable by the proxy's UID 1500 (or a proxyless app's own):
			// Secret files belong to root.
			SecretName: BootstrapSecretName(proxyID), DefaultMode: ptr.To[int32](0o444),
		}},
	}
}

func meshDefaults(mc *configv1alpha2.MeshConfig) redirect.MeshDefaults {
	t := mc.Spec.Traffic
	ints := func(ports []configv1alpha2.Port) []int {
		out := make([]int, len(ports))
		for i, p := range ports {
			out[i] = int(p)
		}
		return out
	}
	return redirect.MeshDefaults{
		OutboundPortExclusions:    ints(t.OutboundPortExclusionList),
		InboundPortExclusions:     ints(t.InboundPortExclusionList),
		OutboundIPRangeExclusions: t.OutboundIPRangeExclusionList,
		OutboundIPRangeInclusions: t.OutboundIPRangeInclusionList,
		InterfaceExclusions:       t.NetworkInterfaceExclusionList,
	}
}

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// envoyContainer runs Envoy as UID 1500 (whose traffic the rules never
// redirect) with the restricted Pod Security settings. The admin port 15000
// is not listed as a container port: Envoy binds it to 127.0.0.1 only.
func envoyContainer(mc *configv1alpha2.MeshConfig) corev1.Container {
	s := mc.Spec.Sidecar
	return corev1.Container{
		Name:            EnvoyContainerName,
		Image:           orDefault(s.EnvoyImage, DefaultEnvoyImage),
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{"envoy"},
		Args: []string{
			"--config-path", BootstrapMountPath + "/" + BootstrapFileName,
			"--log-level", orDefault(s.LogLevel, configv1alpha2.DefaultSpec().Sidecar.LogLevel),
			"--disable-hot-restart",
		},
		Ports: []corev1.ContainerPort{
			{Name: "proxy-outbound", ContainerPort: redirect.OutboundPort, Protocol: corev1.ProtocolTCP},
			{Name: "proxy-inbound", ContainerPort: redirect.InboundPort, Protocol: corev1.ProtocolTCP},
			{Name: "proxy-metrics", ContainerPort: redirect.PrometheusPort, Protocol: corev1.ProtocolTCP},
		},
		Resources: *s.Resources.DeepCopy(),
		VolumeMounts: []corev1.VolumeMount{{
			Name: BootstrapVolumeName, MountPath: BootstrapMountPath, ReadOnly: true,
		}},
		// The inbound listener exists once Envoy has its configuration from
		// the control plane: ready means configured.
		ReadinessProbe: &corev1.Probe{
			ProbeHandler:        corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(redirect.InboundPort)}},
			InitialDelaySeconds: 1, PeriodSeconds: 5, TimeoutSeconds: 1, FailureThreshold: 3,
		},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser:                ptr.To[int64](redirect.ProxyUID),
			RunAsGroup:               ptr.To[int64](redirect.ProxyUID),
			RunAsNonRoot:             ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
}

// initContainer installs the rules given as flags, so the pod's spec shows
// exactly what is redirected and what is excluded. A MeshConfig carried over
// from OSM names OSM's init image, which has no weft-init but a shell and
// iptables-restore: it is given the same rules as iptables-restore input, so
// its pods still start and are redirected alike.
func initContainer(mc *configv1alpha2.MeshConfig, rules redirect.Config) corev1.Container {
	s := mc.Spec.Sidecar
	sc := &corev1.SecurityContext{
		Capabilities: &corev1.Capabilities{Add: []corev1.Capability{"NET_ADMIN", "NET_RAW"}},
		RunAsUser:    ptr.To[int64](0),
		RunAsNonRoot: ptr.To(false),
	}
	if s.EnablePrivilegedInitContainer {
		sc.Privileged = ptr.To(true)
	}
	image := orDefault(s.InitContainerImage, DefaultInitContainerImage)
	c := corev1.Container{
		Name:            InitContainerName,
		Image:           image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{initCommand},
		Args:            rules.Args(),
		SecurityContext: sc,
	}
	if isOSMInitImage(image) {
		c.Command = []string{"/bin/sh"}
		c.Args = []string{"-c", "iptables-restore --noflush <<'EOF'\n" + redirect.Rules(rules) + "EOF\n"}
	}
	return c
}

// isOSMInitImage reports whether image is OSM's init image
// (openservicemesh/init, from any registry, at any tag or digest).
func isOSMInitImage(image string) bool {
	name, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(name, ":"); i > strings.LastIndex(name, "/") {
		name = name[:i]
	}
	return name == "openservicemesh/init" || strings.HasSuffix(name, "/openservicemesh/init")
}
