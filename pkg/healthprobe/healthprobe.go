// Package healthprobe is the record of an injected pod's rewritten health
// probes: the injector writes it as a pod annotation, the catalog reads it, and
// the Envoy generator adds the sidecar listeners (15901-15904) that forward
// kubelet's probes to the app, whose own ports require mTLS. It imports nothing
// of Weft's.
package healthprobe

import (
	"encoding/json"
	"fmt"
)

// Annotation holds, as JSON, the list of Probes of an injected pod.
const Annotation = "weft-mesh.io/health-probes"

// Kind is which of a container's probes a Probe was.
type Kind string

// The probe kinds, and the sidecar port each is rewritten to (OSM's).
const (
	Liveness  Kind = "liveness"
	Readiness Kind = "readiness"
	Startup   Kind = "startup"

	LivenessPort  = 15901
	ReadinessPort = 15902
	StartupPort   = 15903
	TCPPort       = 15904
)

// Probe is one rewritten probe: where kubelet now sends it (Port, and Path for
// HTTP) and where the sidecar must forward it (Original).
type Probe struct {
	Container string `json:"container"`
	Kind      Kind   `json:"kind"`
	// Port and Path are the rewritten probe's: 15901-15903 with
	// /osm-<kind>-probe (HTTP), the same port with the app's own path (HTTPS,
	// which the sidecar passes through as TCP), or 15904 (TCP).
	Port int32  `json:"port"`
	Path string `json:"path,omitempty"`
	// Original is the app's probe.
	Original Original `json:"original"`
}

// Original is where the app answers a probe.
type Original struct {
	// Scheme is HTTP, HTTPS or TCP.
	Scheme string `json:"scheme"`
	// Port is the app's port, a named port resolved to its number.
	Port int32 `json:"port"`
	// Path is the app's HTTP path (HTTP and HTTPS).
	Path string `json:"path,omitempty"`
}

// Parse reads the Annotation from a pod's annotations; none means no probe was
// rewritten.
func Parse(annotations map[string]string) ([]Probe, error) {
	v, ok := annotations[Annotation]
	if !ok {
		return nil, nil
	}
	var probes []Probe
	if err := json.Unmarshal([]byte(v), &probes); err != nil {
		return nil, fmt.Errorf("annotation %s: %w", Annotation, err)
	}
	return probes, nil
}

// Encode writes probes as the Annotation's value.
func Encode(probes []Probe) (string, error) {
	b, err := json.Marshal(probes)
	if err != nil {
		return "", fmt.Errorf("encoding annotation %s: %w", Annotation, err)
	}
	return string(b), nil
}
