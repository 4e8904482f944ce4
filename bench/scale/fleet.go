package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/genproto/googleapis/rpc/status"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/keepalive"
	grpcstatus "google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/anypb"

	"github.com/weft-mesh/weft/ca"

	// Also registers every typed config weftd sends, so that Any values decode.
	"github.com/weft-mesh/weft/pkg/envoy"
)

// outboundRootPrefix names the SDS roots of one reached Service: counting
// them tells how many Services a proxy reaches.
const outboundRootPrefix = "root-cert-for-mtls-outbound:"

// fleet is the simulated Envoys: one mTLS ADS stream each, subscribing as
// Envoy does (CDS, then EDS and SDS for the clusters, LDS, then RDS and SDS
// for the listeners), validating every resource and ACKing or NACKing.
type fleet struct {
	addr       string
	serverName string
	roots      *x509.CertPool
	delta      bool
	proxies    []*proxy

	// goal is what the running phase waits for; each proxy records when it
	// first met it.
	goal  atomic.Pointer[goal]
	nacks atomic.Int64
	// reconnects counts streams that ended other than by stop.
	reconnects atomic.Int64
	// firstErr keeps one stream failure to report.
	firstErr atomic.Pointer[string]
}

// goal is a condition on one proxy's configuration; marker, when set, is an
// endpoint address whose arrival the proxy notes.
type goal struct {
	id     int64
	marker string
	check  func(p *proxy) bool
}

var goalIDs atomic.Int64

func newGoal(marker string, check func(p *proxy) bool) *goal {
	return &goal{id: goalIDs.Add(1), marker: marker, check: check}
}

type proxy struct {
	index  int
	nodeID string
	pair   tls.Certificate
	cancel context.CancelFunc
	done   chan struct{}
	// responses counts every response received, of any type.
	responses atomic.Int64

	mu sync.Mutex
	// res holds, per type, the size of each resource held.
	res map[string]map[string]int
	// refs holds, per CDS or LDS resource, the names it references.
	refs map[string]map[string]refs
	// names are the subscribed names per type (EDS, RDS, SDS).
	names          map[string][]string
	version, nonce map[string]string
	listenersAsked bool
	ldsReceived    int64
	goalID         int64
	goalAt         time.Time
	markerSeen     bool
}

// refs are what one cluster or listener makes Envoy subscribe to.
type refs struct{ eds, rds, sds []string }

func newProxy(index int, cert *ca.Certificate, p ca.Proxy, trustDomain string) (*proxy, error) {
	pair, err := tls.X509KeyPair(cert.CertChainPEM, cert.PrivateKeyPEM)
	if err != nil {
		return nil, err
	}
	return &proxy{index: index, nodeID: p.CommonName(trustDomain), pair: pair}, nil
}

// start opens the proxy's stream and, as Envoy does, opens a new one after
// a failure; it runs until stop.
func (f *fleet) start(ctx context.Context, p *proxy) {
	ctx, p.cancel = context.WithCancel(ctx)
	p.done = make(chan struct{})
	go func() {
		defer close(p.done)
		for {
			p.reset()
			err := f.run(ctx, p)
			if ctx.Err() != nil {
				return
			}
			f.reconnects.Add(1)
			if err != nil {
				msg := fmt.Sprintf("proxy %d: %v", p.index, err)
				f.firstErr.CompareAndSwap(nil, &msg)
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(reconnectDelay):
			}
		}
	}()
}

// reconnectDelay is Envoy's first retry interval for its ADS stream.
const reconnectDelay = 500 * time.Millisecond

// reset forgets what a previous stream sent.
func (p *proxy) reset() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.res, p.refs = map[string]map[string]int{}, map[string]map[string]refs{}
	p.names, p.version, p.nonce = map[string][]string{}, map[string]string{}, map[string]string{}
	p.listenersAsked = false
}

func (p *proxy) stop() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
}

func (f *fleet) run(ctx context.Context, p *proxy) error {
	conn, err := grpc.NewClient(f.addr,
		grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
			Certificates: []tls.Certificate{p.pair}, RootCAs: f.roots, ServerName: f.serverName, MinVersion: tls.VersionTLS12})),
		// Permissive mode sends every Service to every proxy.
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(256<<20)),
		// As the bootstrap's Envoy: HTTP/2 pings find a connection whose
		// close was lost. No TCP keepalive beside them: gRPC sets
		// TCP_USER_TIMEOUT, with which one lost probe would end the
		// connection (see xds.Listen).
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: envoy.XDSKeepaliveInterval, Timeout: envoy.XDSKeepaliveTimeout}),
		grpc.WithContextDialer(func(ctx context.Context, addr string) (net.Conn, error) {
			return (&net.Dialer{KeepAlive: -1}).DialContext(ctx, "tcp", addr)
		}))
	if err != nil {
		return err
	}
	defer conn.Close()
	client := discovery.NewAggregatedDiscoveryServiceClient(conn)
	node := &core.Node{Id: p.nodeID}
	if f.delta {
		return f.runDelta(ctx, p, client, node)
	}
	stream, err := client.StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	return pump(p, stream, &discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType},
		func(resp *discovery.DiscoveryResponse) []*discovery.DiscoveryRequest { return f.sotw(p, resp) })
}

// pump sends first, then answers each response with what handle returns,
// until the stream ends; it serves both flavours of ADS stream.
func pump[Req, Resp any](p *proxy, stream interface {
	Send(Req) error
	Recv() (Resp, error)
}, first Req, handle func(Resp) []Req) error {
	if err := stream.Send(first); err != nil {
		return err
	}
	for {
		resp, err := stream.Recv()
		if err != nil {
			return endErr(err)
		}
		p.responses.Add(1)
		for _, req := range handle(resp) {
			if err := stream.Send(req); err != nil {
				return endErr(err)
			}
		}
	}
}

func endErr(err error) error {
	if errors.Is(err, io.EOF) || grpcstatus.Code(err) == codes.Canceled {
		return nil
	}
	return err
}

// decoded is one resource taken apart.
type decoded struct {
	name string
	size int
	refs refs
	// addresses are a ClusterLoadAssignment's endpoint addresses.
	addresses []string
}

// sotw handles one state-of-the-world response and returns the requests
// Envoy would send: new subscriptions first, then the ACK or NACK.
func (f *fleet) sotw(p *proxy, resp *discovery.DiscoveryResponse) []*discovery.DiscoveryRequest {
	typ := resp.GetTypeUrl()
	items, err := decodeAll(typ, resp.GetResources())
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		f.nacks.Add(1)
		p.nonce[typ] = resp.GetNonce()
		return []*discovery.DiscoveryRequest{{TypeUrl: typ, VersionInfo: p.version[typ], ResponseNonce: resp.GetNonce(), ResourceNames: p.names[typ],
			ErrorDetail: &status.Status{Code: int32(codes.InvalidArgument), Message: err.Error()}}}
	}
	p.res[typ], p.refs[typ] = map[string]int{}, map[string]refs{}
	p.apply(typ, items)
	p.version[typ], p.nonce[typ] = resp.GetVersionInfo(), resp.GetNonce()
	var out []*discovery.DiscoveryRequest
	for _, change := range p.resubscribe(typ) {
		if len(change.names) == 0 {
			// An empty state-of-the-world request would be a wildcard.
			continue
		}
		out = append(out, &discovery.DiscoveryRequest{TypeUrl: change.typ, ResourceNames: change.names,
			VersionInfo: p.version[change.typ], ResponseNonce: p.nonce[change.typ]})
	}
	out = append(out, &discovery.DiscoveryRequest{TypeUrl: typ, VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce(), ResourceNames: p.names[typ]})
	if typ == resource.ClusterType && !p.listenersAsked {
		p.listenersAsked = true
		out = append(out, &discovery.DiscoveryRequest{TypeUrl: resource.ListenerType})
	}
	f.evaluate(p, typ, items)
	return out
}

// apply stores what items hold; the caller holds p.mu.
func (p *proxy) apply(typ string, items []decoded) {
	if p.res[typ] == nil {
		p.res[typ], p.refs[typ] = map[string]int{}, map[string]refs{}
	}
	for _, it := range items {
		p.res[typ][it.name] = it.size
		if typ == resource.ClusterType || typ == resource.ListenerType {
			p.refs[typ][it.name] = it.refs
		}
	}
	if typ == resource.ListenerType {
		p.ldsReceived++
	}
}

type subscription struct {
	typ           string
	names         []string
	added, remove []string
}

// resubscribe recomputes the EDS, RDS and SDS names after a CDS or LDS
// change, drops what is no longer referenced, and returns the changed
// subscriptions; the caller holds p.mu.
func (p *proxy) resubscribe(typ string) []subscription {
	if typ != resource.ClusterType && typ != resource.ListenerType {
		return nil
	}
	want := map[string]map[string]bool{resource.EndpointType: {}, resource.RouteType: {}, resource.SecretType: {}}
	for _, t := range []string{resource.ClusterType, resource.ListenerType} {
		for _, r := range p.refs[t] {
			for _, n := range r.eds {
				want[resource.EndpointType][n] = true
			}
			for _, n := range r.rds {
				want[resource.RouteType][n] = true
			}
			for _, n := range r.sds {
				want[resource.SecretType][n] = true
			}
		}
	}
	var out []subscription
	for _, t := range []string{resource.EndpointType, resource.SecretType, resource.RouteType} {
		// SDS and RDS follow the listeners once they are asked for, as Envoy
		// warms clusters before listeners.
		names := sortedKeys(want[t])
		old := p.names[t]
		if slices.Equal(names, old) {
			continue
		}
		s := subscription{typ: t, names: names}
		for _, n := range names {
			if !slices.Contains(old, n) {
				s.added = append(s.added, n)
			}
		}
		for _, n := range old {
			if !want[t][n] {
				s.remove = append(s.remove, n)
				delete(p.res[t], n)
			}
		}
		p.names[t] = names
		out = append(out, s)
	}
	return out
}

// complete says whether the proxy holds clusters, listeners and everything
// they reference; the caller holds p.mu.
func (p *proxy) complete() bool {
	if p.res[resource.ClusterType] == nil || p.res[resource.ListenerType] == nil {
		return false
	}
	for _, t := range []string{resource.EndpointType, resource.RouteType, resource.SecretType} {
		for _, n := range p.names[t] {
			if _, ok := p.res[t][n]; !ok {
				return false
			}
		}
	}
	return true
}

// reached counts the Services whose roots the proxy holds; the caller holds
// p.mu.
func (p *proxy) reached() int {
	n := 0
	for name := range p.res[resource.SecretType] {
		if strings.HasPrefix(name, outboundRootPrefix) {
			n++
		}
	}
	return n
}

// configBytes is the size of everything the proxy holds.
func (p *proxy) configBytes() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, byName := range p.res {
		for _, size := range byName {
			n += size
		}
	}
	return n
}

// evaluate notes whether the proxy now meets the running goal; the caller
// holds p.mu.
func (f *fleet) evaluate(p *proxy, typ string, items []decoded) {
	g := f.goal.Load()
	if g == nil {
		return
	}
	if p.goalID != g.id {
		p.goalID, p.goalAt, p.markerSeen = g.id, time.Time{}, false
	}
	if !p.goalAt.IsZero() {
		return
	}
	if g.marker != "" && typ == resource.EndpointType {
		for _, it := range items {
			if slices.Contains(it.addresses, g.marker) {
				p.markerSeen = true
			}
		}
	}
	if g.check(p) {
		p.goalAt = time.Now()
	}
}

// reached reports when p met g (zero: not yet).
func (p *proxy) metGoal(g *goal) time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.goalID != g.id {
		return time.Time{}
	}
	return p.goalAt
}

// decodeAll unpacks and validates every resource of a response, as Envoy
// does before accepting it: one bad resource rejects the whole response.
func decodeAll(typ string, anys []*anypb.Any) ([]decoded, error) {
	out := make([]decoded, 0, len(anys))
	for _, a := range anys {
		d, err := decode(typ, a)
		if err != nil {
			return nil, err
		}
		out = append(out, d)
	}
	return out, nil
}

type validator interface{ ValidateAll() error }

func decode(typ string, a *anypb.Any) (decoded, error) {
	if a.GetTypeUrl() != typ {
		return decoded{}, fmt.Errorf("a %s in a %s response", a.GetTypeUrl(), typ)
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return decoded{}, err
	}
	v, ok := m.(validator)
	if !ok {
		return decoded{}, fmt.Errorf("%s cannot be validated", typ)
	}
	if err := v.ValidateAll(); err != nil {
		return decoded{}, err
	}
	d := decoded{size: len(a.GetValue())}
	switch r := m.(type) {
	case *clusterv3.Cluster:
		d.name = r.GetName()
		if r.GetType() == clusterv3.Cluster_EDS {
			d.refs.eds = append(d.refs.eds, cmpOr(r.GetEdsClusterConfig().GetServiceName(), r.GetName()))
		}
		d.refs.sds, err = transportSecrets(r.GetTransportSocket())
	case *listenerv3.Listener:
		d.name = r.GetName()
		d.refs, err = listenerRefs(r)
	case *endpointv3.ClusterLoadAssignment:
		d.name = r.GetClusterName()
		for _, l := range r.GetEndpoints() {
			for _, e := range l.GetLbEndpoints() {
				d.addresses = append(d.addresses, e.GetEndpoint().GetAddress().GetSocketAddress().GetAddress())
			}
		}
	case *tlsv3.Secret:
		d.name = r.GetName()
	case interface{ GetName() string }:
		d.name = r.GetName()
	}
	return d, err
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// listenerRefs are the RDS and SDS names a listener's chains reference,
// validating the typed configs it opens on the way.
func listenerRefs(l *listenerv3.Listener) (refs, error) {
	var r refs
	chains := l.GetFilterChains()
	if l.GetDefaultFilterChain() != nil {
		chains = append(slices.Clone(chains), l.GetDefaultFilterChain())
	}
	for _, fc := range chains {
		sds, err := transportSecrets(fc.GetTransportSocket())
		if err != nil {
			return r, err
		}
		r.sds = append(r.sds, sds...)
		for _, f := range fc.GetFilters() {
			m, err := typed(f.GetTypedConfig())
			if err != nil {
				return r, fmt.Errorf("listener %s filter %s: %w", l.GetName(), f.GetName(), err)
			}
			hcm, ok := m.(*hcmv3.HttpConnectionManager)
			if !ok {
				continue
			}
			if rds := hcm.GetRds(); rds != nil {
				r.rds = append(r.rds, rds.GetRouteConfigName())
			}
			for _, hf := range hcm.GetHttpFilters() {
				if _, err := typed(hf.GetTypedConfig()); err != nil {
					return r, fmt.Errorf("listener %s http filter %s: %w", l.GetName(), hf.GetName(), err)
				}
			}
		}
	}
	return r, nil
}

func transportSecrets(ts *core.TransportSocket) ([]string, error) {
	if ts == nil {
		return nil, nil
	}
	m, err := typed(ts.GetTypedConfig())
	if err != nil {
		return nil, err
	}
	var common *tlsv3.CommonTlsContext
	switch c := m.(type) {
	case *tlsv3.UpstreamTlsContext:
		common = c.GetCommonTlsContext()
	case *tlsv3.DownstreamTlsContext:
		common = c.GetCommonTlsContext()
	}
	return envoy.SDSSecretNames(common), nil
}

// typed unpacks and validates a typed config.
func typed(a *anypb.Any) (any, error) {
	if a == nil {
		return nil, errors.New("no typed config")
	}
	m, err := a.UnmarshalNew()
	if err != nil {
		return nil, err
	}
	if v, ok := m.(validator); ok {
		if err := v.ValidateAll(); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func sortedKeys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
