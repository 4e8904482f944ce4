package xds

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/weft-mesh/weft/ca"
)

var _ serverv3.Callbacks = (*Server)(nil)

// streamKey names an open stream. go-control-plane numbers state-of-the-world
// and delta streams apart, from 1 each, so an ID alone names two streams.
type streamKey struct {
	id    int64
	delta bool
}

// stream is one open xDS stream of an authenticated proxy.
type stream struct {
	proxy *proxyState
	// lastSent is the response last sent per type: its version is what a
	// NACK is taken to have seen (see OnStreamRequest), its nonce what an
	// answer must carry to count in the proxy's status.
	lastSent map[string]sentResponse
	// reconnected is set once the stream's first answer shows the proxy had
	// configuration from an earlier stream (osm_proxy_reconnect_count).
	reconnected bool
}

// OnStreamOpen authenticates the stream by its client certificate and makes
// sure the proxy has a configuration before its first request.
func (s *Server) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	return s.open(ctx, streamKey{id: id})
}

// OnDeltaStreamOpen is OnStreamOpen for incremental xDS.
func (s *Server) OnDeltaStreamOpen(ctx context.Context, id int64, _ string) error {
	return s.open(ctx, streamKey{id: id, delta: true})
}

func (s *Server) open(ctx context.Context, id streamKey) error {
	proxy, err := s.peerProxy(ctx)
	if err != nil {
		return s.refuse("unauthenticated", "unauthenticated", status.Error(codes.Unauthenticated, err.Error()),
			"refused an xDS stream", "error", cut(err.Error(), maxDetail))
	}
	nodeID := proxy.CommonName(s.trustDomain)
	s.mu.Lock()
	p, ok := s.proxies[nodeID]
	if ok && p.streams >= s.maxStreamsPerProxy {
		s.mu.Unlock()
		return s.refuse(nodeID, "too_many_streams",
			status.Errorf(codes.ResourceExhausted, "%s already has %d xDS streams open, the most it may", proxy, s.maxStreamsPerProxy),
			"refused an xDS stream: the proxy has as many open as it may", "proxy", proxy.String(), "max", s.maxStreamsPerProxy)
	}
	if limit := s.maxProxies.Load(); !ok && limit > 0 && int64(len(s.proxies)) >= limit {
		s.mu.Unlock()
		s.metrics.osmMaxConnectionsRejected.Inc()
		return s.refuse(nodeID, "too_many_proxies",
			status.Errorf(codes.ResourceExhausted, "the control plane serves at most %d proxies (MeshConfig sidecar.maxDataPlaneConnections)", limit),
			"refused an xDS stream: as many proxies are connected as MeshConfig sidecar.maxDataPlaneConnections allows", "proxy", proxy.String(), "max", limit)
	}
	if !ok {
		p = &proxyState{proxy: proxy, nodeID: nodeID, pushedAt: map[resource.Type]pushed{},
			connectedSince: s.clock.Now(), status: map[string]TypeStatus{}}
		s.proxies[nodeID] = p
		s.metrics.connected.Inc()
		s.metrics.osmConnected.Inc()
	}
	p.streams++
	s.streams[id] = &stream{proxy: p, lastSent: map[string]sentResponse{}}
	if sp, ok := ctx.Value(streamProxyKey{}).(*streamProxy); ok {
		sp.set(proxy)
	}
	needsConfig := p.current == nil
	s.mu.Unlock()
	s.logs.Log(slog.LevelInfo, nodeID, "proxy connected", "proxy", proxy.String(), "stream", id.id, "delta", id.delta)
	if needsConfig {
		// An invalid configuration does not end the stream: the proxy waits,
		// with none, for the next valid one, and InvalidConfigs reports it.
		if _, err := s.recompute(ctx, p, s.connectMemo()); err != nil {
			return status.Errorf(codes.Unavailable, "computing the configuration of %s: %v", proxy, err)
		}
	}
	return nil
}

// refuse counts a refused stream or request by reason, logs it (within the
// node's log budget) and returns err, which ends the stream.
func (s *Server) refuse(nodeID, reason string, err error, msg string, args ...any) error {
	s.metrics.refusals.WithLabelValues(reason).Inc()
	s.logs.Log(slog.LevelWarn, nodeID, msg, args...)
	return err
}

func (s *Server) peerProxy(ctx context.Context) (ca.Proxy, error) {
	pr, ok := peer.FromContext(ctx)
	if !ok {
		return ca.Proxy{}, fmt.Errorf("no peer information on the stream")
	}
	info, ok := pr.AuthInfo.(credentials.TLSInfo)
	if !ok {
		return ca.Proxy{}, fmt.Errorf("stream from %s is not over TLS", pr.Addr)
	}
	// The handshake verified the client's chain (TLSConfig requires it):
	// Authenticate checks what may have changed since, not the signatures.
	// A connection without a verified chain is refused.
	if len(info.State.VerifiedChains) == 0 {
		return ca.Proxy{}, fmt.Errorf("stream from %s: the TLS handshake verified no client certificate", pr.Addr)
	}
	var errs []error
	for _, chain := range info.State.VerifiedChains {
		proxy, err := s.authenticate(chain)
		if err == nil {
			return proxy, nil
		}
		errs = append(errs, err)
	}
	return ca.Proxy{}, fmt.Errorf("stream from %s: %w", pr.Addr, errors.Join(errs...))
}

// OnStreamClosed forgets the stream, and the proxy with its last stream.
func (s *Server) OnStreamClosed(id int64, _ *core.Node) { s.closed(streamKey{id: id}) }

// OnDeltaStreamClosed is OnStreamClosed for incremental xDS.
func (s *Server) OnDeltaStreamClosed(id int64, _ *core.Node) {
	s.closed(streamKey{id: id, delta: true})
}

func (s *Server) closed(id streamKey) {
	s.mu.Lock()
	st, ok := s.streams[id]
	if !ok {
		s.mu.Unlock()
		return
	}
	delete(s.streams, id)
	st.proxy.streams--
	last := st.proxy.streams == 0
	if last {
		delete(s.proxies, st.proxy.nodeID)
		// Cleared under s.mu, before a reconnecting proxy can register and
		// publish again, and under cacheMu with gone set, so that a push
		// that computed this proxyState's configuration does not set it
		// again (see publish).
		st.proxy.cacheMu.Lock()
		st.proxy.gone = true
		s.cache.ClearSnapshot(st.proxy.nodeID)
		st.proxy.cacheMu.Unlock()
		s.clearRejection(st.proxy)
		s.metrics.connected.Dec()
		s.metrics.osmConnected.Dec()
		s.metrics.forget(st.proxy.proxy, s.trustDomain)
	}
	s.mu.Unlock()
	if last {
		s.logs.Log(slog.LevelInfo, st.proxy.nodeID, "proxy disconnected", "proxy", st.proxy.proxy.String())
	}
}

// OnStreamRequest checks the node and the secrets asked for, counts NACKs and
// records convergence on ACKs.
func (s *Server) OnStreamRequest(id int64, req *discovery.DiscoveryRequest) error {
	st, err := s.check(streamKey{id: id}, req.GetNode(), req.GetTypeUrl(), req.GetResourceNames(), len(req.GetResourceNames()))
	if err != nil {
		return err
	}
	s.requested(st, req.GetTypeUrl(), req.GetResponseNonce() != "" || req.GetVersionInfo() != "")
	if req.GetErrorDetail() != nil {
		s.nack(st, req.GetTypeUrl(), req.GetErrorDetail().GetMessage())
		s.recordAnswer(st, req.GetTypeUrl(), req.GetResponseNonce(), true, req.GetErrorDetail().GetMessage())
		// go-control-plane compares a request's version with the snapshot's and
		// resends on a difference. A NACK carries the previous version, so the
		// same rejected configuration would be resent at once, forever. Taking
		// the NACK as having seen what was sent stops that loop; the next
		// change is sent as usual.
		s.mu.Lock()
		req.VersionInfo = st.lastSent[req.GetTypeUrl()].version
		s.mu.Unlock()
		return nil
	}
	s.recordAnswer(st, req.GetTypeUrl(), req.GetResponseNonce(), false, "")
	s.acked(st, req.GetTypeUrl(), req.GetVersionInfo())
	return nil
}

// OnStreamDeltaRequest is OnStreamRequest for incremental xDS. The delta
// server tracks what each stream holds, so a NACK causes no resend.
func (s *Server) OnStreamDeltaRequest(id int64, req *discovery.DeltaDiscoveryRequest) error {
	names := len(req.GetResourceNamesSubscribe()) + len(req.GetResourceNamesUnsubscribe()) + len(req.GetInitialResourceVersions())
	st, err := s.check(streamKey{id: id, delta: true}, req.GetNode(), req.GetTypeUrl(), req.GetResourceNamesSubscribe(), names)
	if err != nil {
		return err
	}
	s.requested(st, req.GetTypeUrl(), len(req.GetInitialResourceVersions()) > 0)
	if req.GetNode() == nil {
		// The delta server keys its watches by the request's node, or the
		// first request's; a stream that never names one would watch the node
		// "". It is the authenticated proxy's, whatever the request says.
		req.Node = &core.Node{Id: st.proxy.nodeID}
	}
	if req.GetErrorDetail() != nil {
		s.nack(st, req.GetTypeUrl(), req.GetErrorDetail().GetMessage())
		s.recordAnswer(st, req.GetTypeUrl(), req.GetResponseNonce(), true, req.GetErrorDetail().GetMessage())
		return nil
	}
	if req.GetResponseNonce() != "" {
		s.recordAnswer(st, req.GetTypeUrl(), req.GetResponseNonce(), false, "")
		s.acked(st, req.GetTypeUrl(), "")
	}
	return nil
}

// check confirms the request comes from the authenticated proxy, is for a type
// the server serves, names at most MaxResourceNames resources (count), and asks
// only for secrets of the proxy's own configuration.
func (s *Server) check(id streamKey, node *core.Node, typeURL string, names []string, count int) (*stream, error) {
	s.mu.Lock()
	st, ok := s.streams[id]
	var own map[string]bool
	if ok && typeURL == resource.SecretType && st.proxy.current != nil {
		own = st.proxy.current.names(resource.SecretType)
	}
	s.mu.Unlock()
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "unknown stream")
	}
	p := st.proxy
	if node != nil && node.GetId() != p.nodeID {
		return nil, s.refuse(p.nodeID, "node_mismatch",
			status.Errorf(codes.PermissionDenied, "node ID %q does not match the client certificate (want %q)", cut(node.GetId(), maxLogged), p.nodeID),
			"refused a request whose node ID is not its certificate's", "proxy", p.proxy.String(), "node", cut(node.GetId(), maxLogged), "want", p.nodeID)
	}
	if !served(typeURL) {
		// Refused before it reaches go-control-plane, which would keep a watch
		// (and a select case) per type URL for the stream's life.
		return nil, s.refuse(p.nodeID, "unknown_type",
			status.Errorf(codes.InvalidArgument, "type %q is not served", cut(typeURL, maxLogged)),
			"refused a request for a type the server does not serve", "proxy", p.proxy.String(), "type", cut(typeURL, maxLogged))
	}
	if count > s.maxResourceNames {
		return nil, s.refuse(p.nodeID, "too_many_names",
			status.Errorf(codes.InvalidArgument, "%d resource names in one request, more than the %d allowed", count, s.maxResourceNames),
			"refused a request naming too many resources", "proxy", p.proxy.String(), "type", typeURL, "names", count, "max", s.maxResourceNames)
	}
	if own != nil {
		if i := slices.IndexFunc(names, func(n string) bool { return !own[n] }); i >= 0 {
			return nil, s.refuse(p.nodeID, "foreign_secret",
				status.Errorf(codes.PermissionDenied, "secret %q is not served to %s", cut(names[i], maxLogged), p.proxy),
				"refused a request for a secret that is not the proxy's", "proxy", p.proxy.String(), "secret", cut(names[i], maxLogged))
		}
	}
	return st, nil
}

func (s *Server) nack(st *stream, typeURL, detail string) {
	s.metrics.nacks.WithLabelValues(typeLabel(typeURL)).Inc()
	s.logs.Log(slog.LevelWarn, st.proxy.nodeID, "proxy rejected its configuration (NACK); it keeps its last good configuration",
		"proxy", st.proxy.proxy.String(), "type", typeLabel(typeURL), "error", cut(detail, maxDetail))
}

// served reports whether typeURL is a type the server can serve: one a
// go-control-plane snapshot holds. It bounds every per-type map and metric
// label to these few.
func served(typeURL string) bool { return cachev3.GetResponseType(typeURL) != types.UnknownType }

// typeLabel is typeURL as a metric label: a served type, or "unknown".
func typeLabel(typeURL string) string {
	if served(typeURL) {
		return typeURL
	}
	return "unknown"
}

// acked records convergence: the time from publishing a type's version to the
// proxy's ACK of it. version is empty for delta ACKs, which carry none.
func (s *Server) acked(st *stream, typeURL, version string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := st.proxy.pushedAt[typeURL]
	if !ok || (version != "" && version != p.version) {
		return
	}
	delete(st.proxy.pushedAt, typeURL)
	s.metrics.convergenceSeconds.Observe(s.clock.Since(p.at).Seconds())
}

// OnStreamResponse records what is about to be sent, for NACK handling, the
// proxy's status and metrics.
func (s *Server) OnStreamResponse(_ context.Context, id int64, _ *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse) {
	s.sent(streamKey{id: id}, resp.GetTypeUrl(), resp.GetVersionInfo(), resp.GetNonce())
}

// OnStreamDeltaResponse is OnStreamResponse for incremental xDS; the version
// is the snapshot's version of the type, which go-control-plane puts in
// system_version_info.
func (s *Server) OnStreamDeltaResponse(id int64, _ *discovery.DeltaDiscoveryRequest, resp *discovery.DeltaDiscoveryResponse) {
	s.sent(streamKey{id: id, delta: true}, resp.GetTypeUrl(), resp.GetSystemVersionInfo(), resp.GetNonce())
}

func (s *Server) sent(id streamKey, typeURL, version, nonce string) {
	s.mu.Lock()
	if st, ok := s.streams[id]; ok {
		s.recordSent(st, typeURL, version, nonce)
	}
	s.mu.Unlock()
	s.metrics.responses.WithLabelValues(typeLabel(typeURL)).Inc()
}

// requested counts a proxy's request, and a reconnect: a stream whose first
// answer (answered says the request carries a nonce, or for delta the
// versions it holds) shows the proxy kept configuration from an earlier
// stream, to this or another replica, as OSM counted it.
func (s *Server) requested(st *stream, typeURL string, answered bool) {
	s.mu.Lock()
	_, sentHere := st.lastSent[typeURL]
	reconnect := answered && !sentHere && !st.reconnected
	if reconnect {
		st.reconnected = true
	}
	s.mu.Unlock()
	p := st.proxy.proxy
	s.metrics.osmRequests.WithLabelValues(p.ID, p.Identity.CommonName(s.trustDomain), typeLabel(typeURL)).Inc()
	if reconnect {
		s.metrics.osmReconnects.Inc()
	}
}

// OnFetchRequest refuses REST fetches: every proxy must use an authenticated stream.
func (s *Server) OnFetchRequest(context.Context, *discovery.DiscoveryRequest) error {
	return status.Error(codes.Unimplemented, "fetching configuration without a stream is not supported")
}

// OnFetchResponse is unused.
func (s *Server) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {}
