package injector

import (
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/weft-mesh/weft/pkg/healthprobe"
)

// The record of rewritten probes lives in pkg/healthprobe, shared with the
// catalog and the Envoy generator; these names keep the injector's own.
const AnnotationHealthProbes = healthprobe.Annotation

type (
	// ProbeKind is which of a container's probes a HealthProbe was.
	ProbeKind = healthprobe.Kind
	// HealthProbe is one rewritten probe.
	HealthProbe = healthprobe.Probe
	// OriginalProbe is where the app answers a probe.
	OriginalProbe = healthprobe.Original
)

// The probe kinds and the sidecar ports they are rewritten to.
const (
	ProbeLiveness      = healthprobe.Liveness
	ProbeReadiness     = healthprobe.Readiness
	ProbeStartup       = healthprobe.Startup
	LivenessProbePort  = healthprobe.LivenessPort
	ReadinessProbePort = healthprobe.ReadinessPort
	StartupProbePort   = healthprobe.StartupPort
	TCPProbePort       = healthprobe.TCPPort
)

// HealthProbes reads AnnotationHealthProbes from an injected pod's annotations.
func HealthProbes(annotations map[string]string) ([]HealthProbe, error) {
	return healthprobe.Parse(annotations)
}

func encodeHealthProbes(probes []HealthProbe) (string, error) { return healthprobe.Encode(probes) }

// rewriteProbes points the app containers' HTTP, HTTPS and TCP probes at the
// sidecar's probe ports and returns what it rewrote. Only probes that need it
// are rewritten: a probe with its own host, an unresolvable named port or a
// port excluded from inbound redirection reaches the app directly already;
// gRPC and exec probes are left alone.
//
// One sidecar port serves one kind of probe, so ports are shared this way:
// HTTP probes of one kind from several containers share the kind's port, the
// first container's at /osm-<kind>-probe and later ones at
// /osm-<kind>-probe/<container>; an HTTPS probe is passed through as TCP and
// needs its kind's port alone, so it is rewritten only if no other probe of
// that kind was; TCP probes share 15904 when they check the same app port, and
// a TCP probe of another port is left as it was.
func rewriteProbes(pod *corev1.Pod, inboundExclusions []int) []HealthProbe {
	type portUse struct{ http, https bool }
	used := map[ProbeKind]*portUse{ProbeLiveness: {}, ProbeReadiness: {}, ProbeStartup: {}}
	tcpPort := int32(0)
	var out []HealthProbe
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		for _, p := range []struct {
			kind  ProbeKind
			probe *corev1.Probe
			port  int32
		}{
			{ProbeLiveness, c.LivenessProbe, LivenessProbePort},
			{ProbeReadiness, c.ReadinessProbe, ReadinessProbePort},
			{ProbeStartup, c.StartupProbe, StartupProbePort},
		} {
			if p.probe == nil {
				continue
			}
			switch {
			case p.probe.HTTPGet != nil:
				get := p.probe.HTTPGet
				port, ok := resolvePort(c, get.Port)
				if !ok || get.Host != "" || slices.Contains(inboundExclusions, int(port)) {
					continue
				}
				use := used[p.kind]
				original := OriginalProbe{Scheme: "HTTP", Port: port, Path: get.Path}
				rewritten := HealthProbe{Container: c.Name, Kind: p.kind, Port: p.port}
				switch get.Scheme {
				case corev1.URISchemeHTTPS:
					if use.http || use.https {
						continue
					}
					use.https = true
					original.Scheme = "HTTPS"
					rewritten.Path = get.Path
				case corev1.URISchemeHTTP, "":
					if use.https {
						continue
					}
					rewritten.Path = "/osm-" + string(p.kind) + "-probe"
					if use.http {
						rewritten.Path += "/" + c.Name
					}
					use.http = true
					get.Scheme = corev1.URISchemeHTTP
				default:
					continue
				}
				rewritten.Original = original
				get.Port = intstr.FromInt32(p.port)
				get.Path = rewritten.Path
				out = append(out, rewritten)
			case p.probe.TCPSocket != nil:
				tcp := p.probe.TCPSocket
				port, ok := resolvePort(c, tcp.Port)
				if !ok || tcp.Host != "" || slices.Contains(inboundExclusions, int(port)) {
					continue
				}
				if tcpPort != 0 && tcpPort != port {
					continue
				}
				tcpPort = port
				tcp.Port = intstr.FromInt32(TCPProbePort)
				out = append(out, HealthProbe{Container: c.Name, Kind: p.kind, Port: TCPProbePort,
					Original: OriginalProbe{Scheme: "TCP", Port: port}})
			}
		}
	}
	return out
}

// resolvePort turns a probe's port (a number or the name of one of the
// container's ports) into a port number.
func resolvePort(c *corev1.Container, port intstr.IntOrString) (int32, bool) {
	if port.Type == intstr.Int {
		return port.IntVal, port.IntVal >= 1 && port.IntVal <= 65535
	}
	for _, p := range c.Ports {
		if p.Name != "" && p.Name == port.StrVal {
			return p.ContainerPort, p.ContainerPort >= 1 && p.ContainerPort <= 65535
		}
	}
	return 0, false
}
