package redirect

import (
	"fmt"
	"net/netip"
	"sort"
	"strconv"
	"strings"
)

// Ports and the proxy's user, fixed by the compatibility surface OSM users rely on.
const (
	ProxyUID           = 1500
	OutboundPort       = 15001
	InboundPort        = 15003
	AdminPort          = 15000
	PrometheusPort     = 15010
	FirstHealthPort    = 15901 // 15901-15904 serve rewritten health probes
	LastHealthPort     = 15904
	AnnotationPrefix   = "openservicemesh.io/"
	annotationOutPorts = AnnotationPrefix + "outbound-port-exclusion-list"
	annotationInPorts  = AnnotationPrefix + "inbound-port-exclusion-list"
	annotationOutCIDRs = AnnotationPrefix + "outbound-ip-range-exclusion-list"
	annotationInclude  = AnnotationPrefix + "outbound-ip-range-inclusion-list"
)

// Config is what decides a pod's rules: the mesh-wide exclusions merged with the
// pod's own.
type Config struct {
	// OutboundPortExclusions are destination ports never redirected.
	OutboundPortExclusions []int
	// InboundPortExclusions are local ports whose inbound traffic is never redirected.
	InboundPortExclusions []int
	// OutboundIPRangeExclusions are destinations never redirected.
	OutboundIPRangeExclusions []netip.Prefix
	// OutboundIPRangeInclusions, when set, are the only destinations redirected.
	OutboundIPRangeInclusions []netip.Prefix
	// InterfaceExclusions are interfaces whose traffic is never redirected.
	InterfaceExclusions []string
}

// MeshDefaults are the mesh-wide exclusions, from MeshConfig spec.traffic.
type MeshDefaults struct {
	OutboundPortExclusions    []int
	InboundPortExclusions     []int
	OutboundIPRangeExclusions []string
	OutboundIPRangeInclusions []string
	InterfaceExclusions       []string
}

// ForPod merges the mesh-wide exclusions with the pod's annotations. An
// annotation that does not parse is an error naming it, so a typo never
// silently redirects traffic the user meant to exclude.
func ForPod(mesh MeshDefaults, annotations map[string]string) (Config, error) {
	var c Config
	var err error
	if c.OutboundPortExclusions, err = ports("MeshConfig spec.traffic.outboundPortExclusionList", mesh.OutboundPortExclusions, annotationOutPorts, annotations); err != nil {
		return Config{}, err
	}
	if c.InboundPortExclusions, err = ports("MeshConfig spec.traffic.inboundPortExclusionList", mesh.InboundPortExclusions, annotationInPorts, annotations); err != nil {
		return Config{}, err
	}
	if c.OutboundIPRangeExclusions, err = prefixes("MeshConfig spec.traffic.outboundIPRangeExclusionList", mesh.OutboundIPRangeExclusions, annotationOutCIDRs, annotations); err != nil {
		return Config{}, err
	}
	if c.OutboundIPRangeInclusions, err = prefixes("MeshConfig spec.traffic.outboundIPRangeInclusionList", mesh.OutboundIPRangeInclusions, annotationInclude, annotations); err != nil {
		return Config{}, err
	}
	for _, iface := range mesh.InterfaceExclusions {
		if !validInterface(iface) {
			return Config{}, fmt.Errorf("MeshConfig spec.traffic.networkInterfaceExclusionList: %q is not an interface name", iface)
		}
		c.InterfaceExclusions = append(c.InterfaceExclusions, iface)
	}
	return c, nil
}

func ports(meshField string, mesh []int, annotation string, annotations map[string]string) ([]int, error) {
	seen := map[int]bool{}
	add := func(p int, where string) error {
		if p < 1 || p > 65535 {
			return fmt.Errorf("%s: port %d is out of range 1-65535", where, p)
		}
		seen[p] = true
		return nil
	}
	for _, p := range mesh {
		if err := add(p, meshField); err != nil {
			return nil, err
		}
	}
	for _, s := range splitList(annotations[annotation]) {
		p, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("annotation %s: %q is not a port number", annotation, s)
		}
		if err := add(p, "annotation "+annotation); err != nil {
			return nil, err
		}
	}
	out := make([]int, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Ints(out)
	return out, nil
}

func prefixes(meshField string, mesh []string, annotation string, annotations map[string]string) ([]netip.Prefix, error) {
	seen := map[netip.Prefix]bool{}
	add := func(s, where string) error {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("%s: %q is not a CIDR such as 10.0.0.0/8", where, s)
		}
		if p.Addr().Is6() {
			return fmt.Errorf("%s: %q is an IPv6 range; redirection rules are IPv4 only", where, s)
		}
		seen[p.Masked()] = true
		return nil
	}
	for _, s := range mesh {
		if err := add(strings.TrimSpace(s), meshField); err != nil {
			return nil, err
		}
	}
	for _, s := range splitList(annotations[annotation]) {
		if err := add(s, "annotation "+annotation); err != nil {
			return nil, err
		}
	}
	out := make([]netip.Prefix, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return out, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// validInterface accepts what Linux accepts as an interface name, which also
// keeps the name safe inside an iptables rule.
func validInterface(name string) bool {
	if name == "" || len(name) > 15 {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r == '/' || r == ':' || r > '~' {
			return false
		}
	}
	return true
}
