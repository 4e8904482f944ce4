package redirect

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Args renders c as the init container's command-line flags; ParseArgs reads
// them back. The injector computes the Config and the init container applies it,
// so a pod's spec shows exactly what was excluded.
func (c Config) Args() []string {
	var args []string
	add := func(flag string, values []string) {
		if len(values) > 0 {
			args = append(args, "--"+flag+"="+strings.Join(values, ","))
		}
	}
	add(flagOutboundPorts, itoas(c.OutboundPortExclusions))
	add(flagInboundPorts, itoas(c.InboundPortExclusions))
	add(flagOutboundRanges, prefixStrings(c.OutboundIPRangeExclusions))
	add(flagInclusionRanges, prefixStrings(c.OutboundIPRangeInclusions))
	add(flagInterfaces, c.InterfaceExclusions)
	return args
}

const (
	flagOutboundPorts   = "outbound-port-exclusions"
	flagInboundPorts    = "inbound-port-exclusions"
	flagOutboundRanges  = "outbound-ip-range-exclusions"
	flagInclusionRanges = "outbound-ip-range-inclusions"
	flagInterfaces      = "interface-exclusions"
)

// ParseArgs reads the flags Args writes.
func ParseArgs(args []string) (Config, error) {
	var mesh MeshDefaults
	for _, arg := range args {
		name, value, ok := strings.Cut(strings.TrimPrefix(arg, "--"), "=")
		if !ok || !strings.HasPrefix(arg, "--") {
			return Config{}, fmt.Errorf("argument %q: want --name=value", arg)
		}
		list := splitList(value)
		switch name {
		case flagOutboundPorts, flagInboundPorts:
			ports, err := atois(list)
			if err != nil {
				return Config{}, fmt.Errorf("--%s: %w", name, err)
			}
			if name == flagOutboundPorts {
				mesh.OutboundPortExclusions = ports
			} else {
				mesh.InboundPortExclusions = ports
			}
		case flagOutboundRanges:
			mesh.OutboundIPRangeExclusions = list
		case flagInclusionRanges:
			mesh.OutboundIPRangeInclusions = list
		case flagInterfaces:
			mesh.InterfaceExclusions = list
		default:
			return Config{}, fmt.Errorf("unknown flag --%s", name)
		}
	}
	return ForPod(mesh, nil)
}

func itoas(ns []int) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = strconv.Itoa(n)
	}
	return out
}

func atois(ss []string) ([]int, error) {
	out := make([]int, len(ss))
	for i, s := range ss {
		n, err := strconv.Atoi(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not a port number", s)
		}
		out[i] = n
	}
	return out, nil
}

func prefixStrings(ps []netip.Prefix) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}
