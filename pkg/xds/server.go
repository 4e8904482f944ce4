package xds

import (
	"cmp"
	"context"
	"crypto/x509"
	"fmt"
	"log/slog"
	"maps"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	serverv3 "github.com/envoyproxy/go-control-plane/pkg/server/v3"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/identity"
)

// ConfigFunc computes one proxy's whole configuration, secrets included. It is
// called for a proxy when it connects and whenever a Push selects it.
type ConfigFunc func(ctx context.Context, p ca.Proxy) (Resources, error)

// Options configure a Server. Config, Authenticate and TrustDomain are required.
type Options struct {
	// Config computes a proxy's configuration.
	Config ConfigFunc
	// Authenticate returns the proxy a stream's client certificate chain
	// names. It is given each chain the TLS handshake verified
	// (tls.ConnectionState.VerifiedChains: leaf first, root last) until one
	// is accepted, so it need not verify signatures again but must check
	// that the chain still ends in one of the mesh's current roots and is
	// within its validity now; ca.Manager.AuthenticateProxy does this (and
	// ca.Manager.VerifyProxyCertificate, which verifies the chain again,
	// also serves).
	Authenticate func(chain []*x509.Certificate) (ca.Proxy, error)
	// TrustDomain names node IDs: a proxy's node ID must be its certificate's
	// common name, <id>.<kind>.<sa>.<ns>.<trust domain>. Required: the mesh
	// configuration's trust domain, the one the CA issues in.
	TrustDomain string
	// Workers bound the proxies recomputed at once; default GOMAXPROCS.
	Workers int
	// Clock times pushes, convergence and log intervals; default the real
	// clock.
	Clock clock.PassiveClock
	// Logger logs streams, refusals and NACKs, at most LogLines a proxy each
	// LogInterval; default discards.
	Logger *slog.Logger
	// Registerer receives the server's metrics; nil registers none.
	Registerer prometheus.Registerer
	// Validate checks a proxy's newly computed configuration, Config's
	// result, before it is published. A configuration it rejects is not
	// published: the proxy keeps its last good one (or, with none yet, gets
	// none), and the failure is counted, logged once and reported by
	// InvalidConfigs. It is called only for a configuration whose content
	// changed, once per distinct configuration in a Push, and concurrently.
	// Default ValidateEnvoy.
	Validate func(Resources) error

	// The limits below bound what one authenticated proxy can cost weftd.
	// Zero means the default.

	// MaxStreamsPerConnection bounds the concurrent streams on one gRPC client
	// connection (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); a client waits for
	// a free slot. Default 16: an Envoy sidecar uses one ADS stream, a
	// proxyless gRPC client a few.
	MaxStreamsPerConnection uint32
	// MaxStreamsPerProxy bounds the open xDS streams of one proxy (one proxy
	// certificate) across all its connections; one more is refused with
	// ResourceExhausted and counted as refused, reason "too_many_streams".
	// Default 8.
	MaxStreamsPerProxy int
	// MaxMessageBytes bounds the size of one received request; a larger one
	// ends its stream with ResourceExhausted. Default 4 MiB.
	MaxMessageBytes int
	// MaxResourceNames bounds the resource names one request may carry (for
	// delta, subscribed, unsubscribed and initial versions together); a request
	// with more is refused with InvalidArgument, reason "too_many_names".
	// Default 20,000, well above the clusters of any one proxy's configuration.
	MaxResourceNames int
	// LogLines bounds the lines logged about one proxy (NACKs, refusals,
	// connects) in LogInterval; the next interval's first line says how many
	// were suppressed. Defaults 10 lines a minute.
	LogLines    int
	LogInterval time.Duration
}

// Server is the ADS server. It implements go-control-plane's server callbacks
// (see callbacks.go) and serves through its snapshot cache.
type Server struct {
	config ConfigFunc
	// validate is Options.Validate, or validateEnvoy with the memo's cache.
	validate     func(Resources, *envoy.ValidationCache) error
	authenticate func([]*x509.Certificate) (ca.Proxy, error)
	trustDomain  string
	workers      int
	clock        clock.PassiveClock
	metrics      *metrics
	cache        cachev3.SnapshotCache
	xds          serverv3.Server

	maxStreamsPerConnection uint32
	maxStreamsPerProxy      int
	maxMessageBytes         int
	maxResourceNames        int
	// maxProxies caps the connected proxies (MeshConfig
	// sidecar.maxDataPlaneConnections); 0 is no cap.
	maxProxies atomic.Int64
	// logs rate-limits the lines about each proxy, keyed by node ID.
	logs *logLimiter

	// memo is the newest Push's versionMemo, which connecting proxies share
	// until the next Push replaces it; guarded by memoMu.
	memoMu sync.Mutex
	memo   *versionMemo

	mu      sync.Mutex
	streams map[streamKey]*stream
	proxies map[string]*proxyState // by node ID
	// failing are the identities with a proxy whose configuration failed
	// validation, so that a failure is logged once, not once per proxy.
	failing map[identity.Identity]*identityFailure
}

// SetMaxDataPlaneConnections caps the proxies connected at once, as MeshConfig
// sidecar.maxDataPlaneConnections says (0: no cap). A proxy over the cap is
// refused (ResourceExhausted) and counted; connected proxies are kept when the
// cap is lowered, and further streams of a connected proxy are not counted.
func (s *Server) SetMaxDataPlaneConnections(n int) { s.maxProxies.Store(int64(max(n, 0))) }

// Defaults of the Options limits.
const (
	DefaultMaxStreamsPerConnection = 16
	DefaultMaxStreamsPerProxy      = 8
	DefaultMaxMessageBytes         = 4 << 20
	DefaultMaxResourceNames        = 20_000
	DefaultLogLines                = 10
	DefaultLogInterval             = time.Minute
)

// proxyState is a connected proxy and what it was last sent.
type proxyState struct {
	proxy   ca.Proxy
	nodeID  string
	streams int
	// connectedSince is when the first of its open streams opened.
	connectedSince time.Time
	// status is what each type's streams last sent and were answered, by
	// short type name; guarded by Server.mu.
	status map[string]TypeStatus

	// publish serializes computing and publishing this proxy's configuration,
	// so an older computation never overwrites a newer one.
	publish sync.Mutex
	// current is guarded by Server.mu.
	current *versioned
	// pushedAt records when each (type, version) was published, for the
	// convergence metric; guarded by Server.mu.
	pushedAt map[resource.Type]pushed
	// publishedAt is when current was published; guarded by Server.mu.
	publishedAt time.Time
	// rejected is the newest configuration, when it failed validation;
	// guarded by Server.mu.
	rejected *rejection

	// cacheMu orders publishing the proxy's snapshot with clearing it when
	// the proxy's last stream closes. gone is set then; it is written with
	// both Server.mu and cacheMu held, so either suffices to read it. A
	// proxyState that is gone is never registered again: a reconnecting
	// proxy gets a new one.
	cacheMu sync.Mutex
	gone    bool
}

type pushed struct {
	version string
	at      time.Time
}

// NewServer returns a Server; register it on a gRPC server with Register.
func NewServer(ctx context.Context, opts Options) (*Server, error) {
	if opts.Config == nil || opts.Authenticate == nil {
		return nil, fmt.Errorf("xds: Options.Config and Options.Authenticate are required")
	}
	if opts.TrustDomain == "" {
		return nil, fmt.Errorf("xds: Options.TrustDomain is required (the mesh configuration's trust domain)")
	}
	s := &Server{
		config:       opts.Config,
		authenticate: opts.Authenticate,
		trustDomain:  opts.TrustDomain,
		workers:      opts.Workers,
		clock:        opts.Clock,
		streams:      map[streamKey]*stream{},
		proxies:      map[string]*proxyState{},
		failing:      map[identity.Identity]*identityFailure{},

		maxStreamsPerConnection: cmp.Or(opts.MaxStreamsPerConnection, DefaultMaxStreamsPerConnection),
		maxStreamsPerProxy:      cmp.Or(max(opts.MaxStreamsPerProxy, 0), DefaultMaxStreamsPerProxy),
		maxMessageBytes:         cmp.Or(max(opts.MaxMessageBytes, 0), DefaultMaxMessageBytes),
		maxResourceNames:        cmp.Or(max(opts.MaxResourceNames, 0), DefaultMaxResourceNames),
	}
	s.validate = validateEnvoy
	if opts.Validate != nil {
		s.validate = func(r Resources, _ *envoy.ValidationCache) error { return opts.Validate(r) }
	}
	if s.workers <= 0 {
		s.workers = runtime.GOMAXPROCS(0)
	}
	if s.clock == nil {
		s.clock = clock.RealClock{}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s.logs = newLogLimiter(log, s.clock, cmp.Or(max(opts.LogLines, 0), DefaultLogLines),
		cmp.Or(max(opts.LogInterval, 0), DefaultLogInterval))
	var err error
	if s.metrics, err = newMetrics(opts.Registerer); err != nil {
		return nil, err
	}
	// ads=false: with ads=true go-control-plane withholds a response until a
	// client names every resource of a type in the snapshot, and gRPC clients
	// that name a subset would hang.
	s.cache = cachev3.NewSnapshotCache(false, cachev3.IDHash{}, nil)
	s.xds = serverv3.NewServer(ctx, s.cache, s)
	return s, nil
}

// PushResult says what a Push did.
type PushResult struct {
	// Recomputed proxies had their configuration computed again.
	Recomputed int
	// Updated proxies got a new version of at least one resource type.
	Updated int
	// Failed proxies' configuration could not be computed; they keep their last
	// good configuration.
	Failed int
	// Invalid proxies' new configuration failed validation (Options.Validate);
	// they keep their last good configuration. InvalidConfigs lists them.
	Invalid int
}

// Push recomputes the connected proxies that affected selects and publishes
// what changed. Unselected proxies are not touched; a proxy whose new
// configuration equals its old one is sent nothing.
func (s *Server) Push(ctx context.Context, affected func(ca.Proxy) bool) PushResult {
	s.mu.Lock()
	var todo []*proxyState
	for _, p := range s.proxies {
		if affected(p.proxy) {
			todo = append(todo, p)
		}
	}
	s.mu.Unlock()

	memo := s.nextMemo()
	var (
		mu     sync.Mutex
		result = PushResult{Recomputed: len(todo)}
		next   = make(chan *proxyState)
		wg     sync.WaitGroup
	)
	for range min(s.workers, len(todo)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for p := range next {
				out, err := s.recompute(ctx, p, memo)
				mu.Lock()
				switch {
				case err != nil:
					result.Failed++
				case out == updated:
					result.Updated++
				case out == invalid:
					result.Invalid++
				}
				mu.Unlock()
			}
		}()
	}
	for _, p := range todo {
		next <- p
	}
	close(next)
	wg.Wait()
	return result
}

// nextMemo starts the memo of a Push, which proxies connecting after it share.
func (s *Server) nextMemo() *versionMemo {
	s.memoMu.Lock()
	defer s.memoMu.Unlock()
	s.memo = s.memo.next()
	return s.memo
}

// connectMemo is the memo a connecting proxy's first computation shares with
// the last Push and the proxies connected since, so that a connect storm
// hashes, marshals and validates each distinct configuration once.
func (s *Server) connectMemo() *versionMemo {
	s.memoMu.Lock()
	defer s.memoMu.Unlock()
	if s.memo == nil {
		s.memo = s.memo.next()
	}
	return s.memo
}

// outcome is what recomputing a proxy's configuration did.
type outcome int

const (
	// unchanged: nothing was published, the configuration being the same, or
	// the proxy gone.
	unchanged outcome = iota
	// updated: a new configuration was published.
	updated
	// invalid: the new configuration failed validation and was not published.
	invalid
)

// recompute computes p's configuration and publishes it if it changed and is
// valid. On error, or when it is invalid, the last good configuration keeps
// serving.
func (s *Server) recompute(ctx context.Context, p *proxyState, memo *versionMemo) (outcome, error) {
	p.publish.Lock()
	defer p.publish.Unlock()
	start := s.clock.Now()
	res, err := s.config(ctx, p.proxy)
	if err == nil {
		var v *versioned
		if v, err = version(res, memo); err == nil {
			var out outcome
			out, err = s.publish(ctx, p, v, start, memo)
			elapsed := s.clock.Since(start).Seconds()
			s.metrics.pushSeconds.Observe(elapsed)
			for typ := range v.versions {
				s.metrics.osmConfigUpdate.WithLabelValues(typeLabel(typ), strconv.FormatBool(err == nil && out != invalid)).Observe(elapsed)
			}
			if err == nil {
				return out, nil
			}
		}
	}
	s.metrics.configErrors.Inc()
	s.logs.Log(slog.LevelError, p.nodeID, "computing a proxy's configuration failed; it keeps its last good configuration", "proxy", p.proxy.String(), "error", err)
	return unchanged, err
}

// publish validates v if its content differs from what p was last sent, and
// publishes it if it is valid and p is still connected.
func (s *Server) publish(ctx context.Context, p *proxyState, v *versioned, start time.Time, memo *versionMemo) (outcome, error) {
	s.mu.Lock()
	if p.gone {
		s.mu.Unlock()
		return unchanged, nil
	}
	var changed []resource.Type
	for typ, ver := range v.versions {
		if p.current == nil || p.current.versions[typ] != ver {
			changed = append(changed, typ)
		}
	}
	removed := p.current != nil && len(p.current.versions) != len(v.versions)
	if len(changed) == 0 && !removed {
		// Back to, or still at, what the proxy was sent: a failure of a
		// configuration computed in between no longer matters.
		s.clearRejection(p)
		s.mu.Unlock()
		return unchanged, nil
	}
	// The content validated last time and rejected is not validated again.
	again := p.rejected != nil && maps.Equal(p.rejected.versions, v.versions)
	s.mu.Unlock()
	if again {
		return invalid, nil
	}
	snap, err := v.snapshot()
	if err != nil {
		return unchanged, err
	}
	if err := memo.validate(v, s.validate); err != nil {
		s.reject(p, v, err)
		return invalid, nil
	}
	s.mu.Lock()
	if p.gone {
		s.mu.Unlock()
		return unchanged, nil
	}
	p.current = v
	p.publishedAt = s.clock.Now()
	for _, typ := range changed {
		p.pushedAt[typ] = pushed{version: v.versions[typ], at: start}
	}
	s.clearRejection(p)
	s.mu.Unlock()
	s.metrics.configBytes.Observe(float64(v.bytes))

	p.cacheMu.Lock()
	defer p.cacheMu.Unlock()
	if p.gone {
		// The proxy's last stream closed while this was computed, and closed
		// cleared its snapshot: setting it again would keep it in the cache
		// for good (node IDs are per pod). A reconnected proxy has a new
		// proxyState, which publishes its own.
		return unchanged, nil
	}
	if err := s.cache.SetSnapshot(ctx, p.nodeID, snap); err != nil {
		return unchanged, fmt.Errorf("publishing the snapshot of %s: %w", p.proxy, err)
	}
	return updated, nil
}

// ConnectedProxies returns the proxies with an open stream.
func (s *Server) ConnectedProxies() []ca.Proxy {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]ca.Proxy, 0, len(s.proxies))
	for _, p := range s.proxies {
		out = append(out, p.proxy)
	}
	return out
}

// IdentityResources returns what the server last published to a connected
// proxy of identity id (the most recently published, when several are
// connected), for the debug endpoint; ok is false when none is connected.
// Nothing is computed: every proxy of an identity is sent the same
// configuration, and this is the one the server holds.
func (s *Server) IdentityResources(id identity.Identity) (Resources, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var latest *proxyState
	for _, p := range s.proxies {
		if p.proxy.Identity != id || p.current == nil {
			continue
		}
		if latest == nil || p.publishedAt.After(latest.publishedAt) ||
			(p.publishedAt.Equal(latest.publishedAt) && p.nodeID < latest.nodeID) {
			latest = p
		}
	}
	if latest == nil {
		return nil, false
	}
	return latest.current.resources, true
}

// Resources returns what a connected proxy was last sent, for the debug
// endpoint; ok is false when the node is not connected.
func (s *Server) Resources(nodeID string) (Resources, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.proxies[nodeID]
	if !ok || p.current == nil {
		return nil, false
	}
	return p.current.resources, true
}
