package xds

import (
	"cmp"
	"slices"
	"time"

	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/identity"
)

// ProxyStatus is what one connected proxy was last sent and acknowledged, per
// resource type: the answer to "has my change reached the proxies, and did
// they take it?". It is the JSON weftd serves at /debug/proxy-status.
type ProxyStatus struct {
	ID       string            `json:"id"`
	Kind     ca.ProxyKind      `json:"kind"`
	Identity identity.Identity `json:"identity"`
	// PodNamespace and PodName are empty from the server: a proxy
	// certificate names no pod. A caller that knows the mesh's pods fills
	// them (weftd, by the osm-proxy-uuid label).
	PodNamespace string `json:"podNamespace,omitempty"`
	PodName      string `json:"podName,omitempty"`
	// ConnectedSince is when the proxy's oldest open stream opened.
	ConnectedSince time.Time `json:"connectedSince"`
	// Types is keyed by the short names CDS, EDS, LDS, RDS and SDS; a type the
	// proxy was never sent is missing.
	Types map[string]TypeStatus `json:"types,omitempty"`
}

// TypeStatus is one resource type of a proxy: the version last sent, the
// version last acknowledged, and the NACK of the latest response, if the
// proxy rejected it. Sent differs from Acked while a response is unanswered.
type TypeStatus struct {
	Sent    string    `json:"sent,omitempty"`
	SentAt  time.Time `json:"sentAt,omitzero"`
	Acked   string    `json:"acked,omitempty"`
	AckedAt time.Time `json:"ackedAt,omitzero"`
	Nack    *Nack     `json:"nack,omitempty"`
}

// Nack is a proxy's rejection of the version it was sent.
type Nack struct {
	Version string    `json:"version"`
	Message string    `json:"message"`
	At      time.Time `json:"at"`
}

// shortTypes are the types a status reports, by their short names.
var shortTypes = map[string]string{
	resource.ClusterType:  "CDS",
	resource.EndpointType: "EDS",
	resource.ListenerType: "LDS",
	resource.RouteType:    "RDS",
	resource.SecretType:   "SDS",
}

// sentResponse is the last response of one type on a stream: its nonce names
// the response an ACK or NACK answers.
type sentResponse struct {
	version, nonce string
}

// recordSent notes a response about to be sent on st. Called with s.mu held.
func (s *Server) recordSent(st *stream, typeURL, version, nonce string) {
	st.lastSent[typeURL] = sentResponse{version: version, nonce: nonce}
	short, ok := shortTypes[typeURL]
	if !ok {
		return
	}
	ts := st.proxy.status[short]
	ts.Sent, ts.SentAt, ts.Nack = version, s.clock.Now(), nil
	st.proxy.status[short] = ts
}

// recordAnswer notes an ACK (detail empty) or NACK of the response nonce
// names. An answer to an older response than the last one sent says nothing
// about the current version and is not recorded.
func (s *Server) recordAnswer(st *stream, typeURL, nonce string, nacked bool, detail string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	last, ok := st.lastSent[typeURL]
	short, known := shortTypes[typeURL]
	if !ok || !known || nonce == "" || nonce != last.nonce {
		return
	}
	ts := st.proxy.status[short]
	if nacked {
		ts.Nack = &Nack{Version: last.version, Message: cut(detail, maxDetail), At: s.clock.Now()}
	} else {
		ts.Acked, ts.AckedAt, ts.Nack = last.version, s.clock.Now(), nil
	}
	st.proxy.status[short] = ts
}

// ProxyStatuses returns the status of every connected proxy, by identity and
// ID. It holds only connected proxies: a proxy is forgotten with its last
// stream.
func (s *Server) ProxyStatuses() []ProxyStatus {
	s.mu.Lock()
	out := make([]ProxyStatus, 0, len(s.proxies))
	for _, p := range s.proxies {
		out = append(out, ProxyStatus{
			ID: p.proxy.ID, Kind: p.proxy.Kind, Identity: p.proxy.Identity,
			ConnectedSince: p.connectedSince, Types: cloneStatus(p.status),
		})
	}
	s.mu.Unlock()
	slices.SortFunc(out, func(a, b ProxyStatus) int {
		return cmp.Or(cmp.Compare(a.Identity.String(), b.Identity.String()), cmp.Compare(a.ID, b.ID))
	})
	return out
}

func cloneStatus(in map[string]TypeStatus) map[string]TypeStatus {
	if len(in) == 0 {
		return nil
	}
	out := make(map[string]TypeStatus, len(in))
	for k, v := range in {
		if v.Nack != nil {
			n := *v.Nack
			v.Nack = &n
		}
		out[k] = v
	}
	return out
}
