package xds

import (
	"context"
	"fmt"
	"slices"

	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	"github.com/weft-mesh/weft/ca"
)

var _ serverv3.Callbacks = (*Server)(nil)

// stream is one open xDS stream of an authenticated proxy.
type stream struct {
	proxy *proxyState
	// lastSent is the version last sent per type, which a NACK is taken to have
	// seen (see nack).
	lastSent map[string]string
}

// OnStreamOpen authenticates the stream by its client certificate and makes
// sure the proxy has a configuration before its first request.
func (s *Server) OnStreamOpen(ctx context.Context, id int64, _ string) error {
	return s.open(ctx, id)
}

// OnDeltaStreamOpen is OnStreamOpen for incremental xDS.
func (s *Server) OnDeltaStreamOpen(ctx context.Context, id int64, _ string) error {
	return s.open(ctx, id)
}

func (s *Server) open(ctx context.Context, id int64) error {
	proxy, err := s.peerProxy(ctx)
	if err != nil {
		s.metrics.refusals.WithLabelValues("unauthenticated").Inc()
		s.log.Warn("refused an xDS stream", "error", err)
		return status.Error(codes.Unauthenticated, err.Error())
	}
	nodeID := proxy.CommonName(s.trustDomain)
	s.mu.Lock()
	p, ok := s.proxies[nodeID]
	if !ok {
		p = &proxyState{proxy: proxy, nodeID: nodeID, pushedAt: map[resource.Type]pushed{}}
		s.proxies[nodeID] = p
		s.metrics.connected.Inc()
	}
	p.streams++
	s.streams[id] = &stream{proxy: p, lastSent: map[string]string{}}
	needsConfig := p.current == nil
	s.mu.Unlock()
	s.log.Info("proxy connected", "proxy", proxy.String(), "stream", id)
	if needsConfig {
		if _, err := s.recompute(ctx, p, nil); err != nil {
			return status.Errorf(codes.Unavailable, "computing the configuration of %s: %v", proxy, err)
		}
	}
	return nil
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
	proxy, err := s.authenticate(info.State.PeerCertificates)
	if err != nil {
		return ca.Proxy{}, fmt.Errorf("stream from %s: %w", pr.Addr, err)
	}
	return proxy, nil
}

// OnStreamClosed forgets the stream, and the proxy with its last stream.
func (s *Server) OnStreamClosed(id int64, _ *core.Node) { s.closed(id) }

// OnDeltaStreamClosed is OnStreamClosed for incremental xDS.
func (s *Server) OnDeltaStreamClosed(id int64, _ *core.Node) { s.closed(id) }

func (s *Server) closed(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[id]
	if !ok {
		return
	}
	delete(s.streams, id)
	st.proxy.streams--
	if st.proxy.streams == 0 {
		delete(s.proxies, st.proxy.nodeID)
		s.cache.ClearSnapshot(st.proxy.nodeID)
		s.metrics.connected.Dec()
		s.log.Info("proxy disconnected", "proxy", st.proxy.proxy.String())
	}
}

// OnStreamRequest checks the node and the secrets asked for, counts NACKs and
// records convergence on ACKs.
func (s *Server) OnStreamRequest(id int64, req *discovery.DiscoveryRequest) error {
	st, err := s.check(id, req.GetNode(), req.GetTypeUrl(), req.GetResourceNames())
	if err != nil {
		return err
	}
	if req.GetErrorDetail() != nil {
		s.nack(st, req.GetTypeUrl(), req.GetErrorDetail().GetMessage())
		// go-control-plane compares a request's version with the snapshot's and
		// resends on a difference. A NACK carries the previous version, so the
		// same rejected configuration would be resent at once, forever. Taking
		// the NACK as having seen what was sent stops that loop; the next
		// change is sent as usual.
		s.mu.Lock()
		req.VersionInfo = st.lastSent[req.GetTypeUrl()]
		s.mu.Unlock()
		return nil
	}
	s.acked(st, req.GetTypeUrl(), req.GetVersionInfo())
	return nil
}

// OnStreamDeltaRequest is OnStreamRequest for incremental xDS. The delta
// server tracks what each stream holds, so a NACK causes no resend.
func (s *Server) OnStreamDeltaRequest(id int64, req *discovery.DeltaDiscoveryRequest) error {
	st, err := s.check(id, req.GetNode(), req.GetTypeUrl(), req.GetResourceNamesSubscribe())
	if err != nil {
		return err
	}
	if req.GetErrorDetail() != nil {
		s.nack(st, req.GetTypeUrl(), req.GetErrorDetail().GetMessage())
		return nil
	}
	if req.GetResponseNonce() != "" {
		s.acked(st, req.GetTypeUrl(), "")
	}
	return nil
}

// check confirms the request comes from the authenticated proxy and asks only
// for secrets of its own configuration.
func (s *Server) check(id int64, node *core.Node, typeURL string, names []string) (*stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[id]
	if !ok {
		return nil, status.Error(codes.Unauthenticated, "unknown stream")
	}
	p := st.proxy
	if node != nil && node.GetId() != p.nodeID {
		s.metrics.refusals.WithLabelValues("node_mismatch").Inc()
		s.log.Warn("refused a request whose node ID is not its certificate's", "proxy", p.proxy.String(), "node", node.GetId(), "want", p.nodeID)
		return nil, status.Errorf(codes.PermissionDenied, "node ID %q does not match the client certificate (want %q)", node.GetId(), p.nodeID)
	}
	if typeURL == resource.SecretType && p.current != nil {
		own := p.current.names(resource.SecretType)
		if i := slices.IndexFunc(names, func(n string) bool { return !own[n] }); i >= 0 {
			s.metrics.refusals.WithLabelValues("foreign_secret").Inc()
			s.log.Warn("refused a request for a secret that is not the proxy's", "proxy", p.proxy.String(), "secret", names[i])
			return nil, status.Errorf(codes.PermissionDenied, "secret %q is not served to %s", names[i], p.proxy)
		}
	}
	return st, nil
}

func (s *Server) nack(st *stream, typeURL, detail string) {
	s.metrics.nacks.WithLabelValues(typeURL).Inc()
	s.log.Warn("proxy rejected its configuration (NACK); it keeps its last good configuration",
		"proxy", st.proxy.proxy.String(), "type", typeURL, "error", detail)
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

// OnStreamResponse records what was sent, for NACK handling and metrics.
func (s *Server) OnStreamResponse(_ context.Context, id int64, _ *discovery.DiscoveryRequest, resp *discovery.DiscoveryResponse) {
	s.mu.Lock()
	if st, ok := s.streams[id]; ok {
		st.lastSent[resp.GetTypeUrl()] = resp.GetVersionInfo()
	}
	s.mu.Unlock()
	s.metrics.responses.WithLabelValues(resp.GetTypeUrl()).Inc()
}

// OnStreamDeltaResponse counts what was sent.
func (s *Server) OnStreamDeltaResponse(_ int64, _ *discovery.DeltaDiscoveryRequest, resp *discovery.DeltaDiscoveryResponse) {
	s.metrics.responses.WithLabelValues(resp.GetTypeUrl()).Inc()
}

// OnFetchRequest refuses REST fetches: every proxy must use an authenticated stream.
func (s *Server) OnFetchRequest(context.Context, *discovery.DiscoveryRequest) error {
	return status.Error(codes.Unimplemented, "fetching configuration without a stream is not supported")
}

// OnFetchResponse is unused.
func (s *Server) OnFetchResponse(*discovery.DiscoveryRequest, *discovery.DiscoveryResponse) {}
