package rules

import "strings"

// ServiceName reads a service name as SMI and OSM users write it: "name" (in
// namespace ns), "name.namespace", "name.namespace.svc" or the full DNS name
// "name.namespace.svc.cluster.local", ignoring surrounding spaces and a
// trailing dot. It reports false for an empty or malformed name.
func ServiceName(name, ns string) (namespace, service string, ok bool) {
	name = strings.TrimSuffix(strings.TrimSpace(name), ".")
	if name == "" {
		return "", "", false
	}
	parts := strings.Split(name, ".")
	for _, p := range parts {
		if p == "" {
			return "", "", false
		}
	}
	switch {
	case len(parts) == 1:
		if ns == "" {
			return "", "", false
		}
		return ns, parts[0], true
	case len(parts) == 2, parts[2] == "svc":
		return parts[1], parts[0], true
	}
	return "", "", false
}
