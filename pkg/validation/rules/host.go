package rules

import (
	"errors"
	"fmt"
	"strings"
)

// EgressHost checks one of an Egress policy's spec.hosts: a DNS name
// (httpbin.org) or a DNS name under a leading "*." wildcard (*.example.com),
// in any case. OSM's Egress takes no port in a host (ports are spec.ports) and
// no other wildcard: Envoy matches SNI wildcards only as a leading "*.", and
// "*" alone would admit every host on the policy's ports, which is what egress
// passthrough (MeshConfig spec.traffic.enableEgress) is for.
func EgressHost(host string) error {
	switch {
	case host == "*":
		return errors.New(`a lone "*" would allow every host on these ports; to allow egress to any destination, turn on egress passthrough (MeshConfig spec.traffic.enableEgress) instead`)
	case host == "":
		return errors.New("must be a host name such as httpbin.org or *.example.com")
	}
	name := strings.TrimPrefix(host, "*.")
	if err := dnsName(name); err != nil {
		return fmt.Errorf("must be a host name such as httpbin.org or *.example.com: %w", err)
	}
	return nil
}

// ServerName checks a TLS server name (SNI) Weft matches on: a DNS name, or a
// DNS name under a leading "*." wildcard, in any case. Envoy matches no other
// wildcard.
func ServerName(host string) error {
	const want = "must be a server name such as bookstore.example.com or *.example.com"
	if host == "" {
		return errors.New(want)
	}
	if err := dnsName(strings.TrimPrefix(host, "*.")); err != nil {
		return fmt.Errorf("%s: %w", want, err)
	}
	return nil
}

// lowerDNSName checks a DNS name in lower case, as Kubernetes object names and
// the names in Weft's certificates are written.
func lowerDNSName(name string) error {
	if name == "" {
		return errors.New("empty")
	}
	if err := dnsName(name); err != nil {
		return err
	}
	if lower := strings.ToLower(name); lower != name {
		return fmt.Errorf("upper case letters: write %s", lower)
	}
	return nil
}

// dnsName checks a DNS name (RFC 1123 host names, any case): dot-separated
// labels of 1 to 63 letters, digits and inner hyphens, 253 characters at most.
func dnsName(name string) error {
	switch {
	case name == "":
		return errors.New("nothing follows the wildcard")
	case len(name) > 253:
		return fmt.Errorf("longer than 253 characters")
	case strings.Contains(name, "*"):
		return errors.New(`a wildcard is allowed only as a leading "*."`)
	case strings.Contains(name, "://") || strings.Contains(name, "/"):
		return errors.New("a host, not a URL")
	case strings.Contains(name, ":"):
		return errors.New("no port here: ports are spec.ports")
	}
	for _, label := range strings.Split(name, ".") {
		switch {
		case label == "":
			return errors.New("empty label")
		case len(label) > 63:
			return fmt.Errorf("label %q is longer than 63 characters", label)
		case label[0] == '-' || label[len(label)-1] == '-':
			return fmt.Errorf("label %q starts or ends with a hyphen", label)
		}
		for _, c := range label {
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-') {
				return fmt.Errorf("label %q has %q: only letters, digits and hyphens", label, c)
			}
		}
	}
	return nil
}
