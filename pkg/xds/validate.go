package xds

import (
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/proto"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/envoy"
)

// ValidateEnvoy is the default Options.Validate: what Envoy checks before it
// accepts a configuration. It is pkg/envoy's Resources.Validate of r's
// listeners, routes, clusters, endpoints and secret names (each resource
// passes Envoy's proto constraints, names are unique, and every cluster,
// route configuration, ClusterLoadAssignment and SDS secret referenced
// exists), with the order of r not checked, since a snapshot is served as a
// set; and every resource of r is of its type URL's message, every other
// resource (a secret, say) passes its proto constraints, and no name is used
// twice in one type.
func ValidateEnvoy(r Resources) error { return validateEnvoy(r, nil) }

// validateEnvoy is ValidateEnvoy taking the proto constraints of messages it
// checked before from cache (see envoy.ValidationCache).
func validateEnvoy(r Resources, cache *envoy.ValidationCache) error {
	var errs []error
	for typ, items := range r {
		names := map[string]bool{}
		for _, item := range items {
			name := cachev3.GetResourceName(item)
			if got := resource.APITypePrefix + string(proto.MessageName(item)); got != typ {
				errs = append(errs, fmt.Errorf("%s %q is a %s", typ, name, got))
				continue
			}
			switch typ {
			case resource.ListenerType, resource.RouteType, resource.ClusterType, resource.EndpointType:
				continue // pkg/envoy's Validate checks them
			}
			if names[name] {
				errs = append(errs, fmt.Errorf("%s %q: name used twice", typ, name))
			}
			names[name] = true
			if v, ok := item.(interface{ ValidateAll() error }); ok {
				if err := cache.ValidateAll(v); err != nil {
					errs = append(errs, fmt.Errorf("%s %q: %w", typ, name, err))
				}
			}
		}
	}
	// EnvoyResources builds new slices, so sorting them leaves r as it is.
	e := EnvoyResources(r)
	slices.SortFunc(e.Listeners, func(a, b *listenerv3.Listener) int { return strings.Compare(a.GetName(), b.GetName()) })
	slices.SortFunc(e.Routes, func(a, b *routev3.RouteConfiguration) int { return strings.Compare(a.GetName(), b.GetName()) })
	slices.SortFunc(e.Clusters, func(a, b *clusterv3.Cluster) int { return strings.Compare(a.GetName(), b.GetName()) })
	slices.SortFunc(e.Endpoints, func(a, b *endpointv3.ClusterLoadAssignment) int {
		return strings.Compare(a.GetClusterName(), b.GetClusterName())
	})
	slices.Sort(e.Secrets)
	errs = append(errs, e.ValidateWith(cache))
	return errors.Join(errs...)
}

// InvalidConfig is a connected proxy whose newest configuration failed
// validation and was not published.
type InvalidConfig struct {
	Proxy  ca.Proxy
	NodeID string
	// Error is what validation found.
	Error string
	// Since is when the proxy's configuration first failed with this error;
	// a configuration that fails differently starts again.
	Since time.Time
	// Serving is true when the proxy keeps its last good configuration, false
	// when it has none yet and so is served nothing.
	Serving bool
}

// InvalidConfigs returns the connected proxies whose newest configuration
// failed validation, by node ID, for the debug endpoint. A proxy leaves the
// list when a valid configuration is published to it or it disconnects.
func (s *Server) InvalidConfigs() []InvalidConfig {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []InvalidConfig
	for _, p := range s.proxies {
		if r := p.rejected; r != nil {
			out = append(out, InvalidConfig{Proxy: p.proxy, NodeID: p.nodeID, Error: r.err, Since: r.since, Serving: p.current != nil})
		}
	}
	slices.SortFunc(out, func(a, b InvalidConfig) int { return strings.Compare(a.NodeID, b.NodeID) })
	return out
}

// rejection is a proxy's configuration that failed validation.
type rejection struct {
	versions map[resource.Type]string
	err      string
	since    time.Time
}

// identityFailure is the failure last logged for an identity's proxies, and
// how many of them have a rejected configuration.
type identityFailure struct {
	err     string
	proxies int
}

// reject records that v, p's newest configuration, failed validation with
// err: it counts it, and logs it unless a proxy of the same identity
// (they are all sent the same configuration) already logged the same error.
func (s *Server) reject(p *proxyState, v *versioned, err error) {
	msg := err.Error()
	now := s.clock.Now()
	s.mu.Lock()
	if p.gone {
		s.mu.Unlock()
		return
	}
	r := &rejection{versions: v.versions, err: msg, since: now}
	if p.rejected == nil {
		f := s.failing[p.proxy.Identity]
		if f == nil {
			f = &identityFailure{}
			s.failing[p.proxy.Identity] = f
		}
		f.proxies++
	} else if p.rejected.err == msg {
		r.since = p.rejected.since
	}
	p.rejected = r
	f := s.failing[p.proxy.Identity]
	log := f.err != msg
	f.err = msg
	serving := p.current != nil
	s.mu.Unlock()

	s.metrics.invalidConfigs.Inc()
	if log {
		s.logs.Log(slog.LevelError, p.nodeID, "a proxy's new configuration failed validation and was not published",
			"proxy", p.proxy.String(), "keeps_last_good", serving, "error", cut(msg, maxDetail))
	}
}

// clearRejection forgets p's rejected configuration, if any. s.mu is held.
func (s *Server) clearRejection(p *proxyState) {
	if p.rejected == nil {
		return
	}
	p.rejected = nil
	if f := s.failing[p.proxy.Identity]; f != nil {
		if f.proxies--; f.proxies <= 0 {
			delete(s.failing, p.proxy.Identity)
		}
	}
}

// validations memoizes, for one Push and the proxies that connect after it,
// the validation of each distinct configuration (by its versions), since
// every proxy of an identity is sent the same one, and of each message
// several configurations share (checks).
type validations struct {
	mu     sync.Mutex
	m      map[string]*validation
	checks envoy.ValidationCache
}

type validation struct {
	once sync.Once
	err  error
}

// validate returns validate(v.resources), computed once per distinct
// configuration in the memo's Push and the connects after it.
func (m *versionMemo) validate(v *versioned, validate func(Resources, *envoy.ValidationCache) error) error {
	if m == nil {
		return validate(v.resources, nil)
	}
	key := v.key()
	m.validated.mu.Lock()
	if m.validated.m == nil {
		m.validated.m = map[string]*validation{}
	}
	e, ok := m.validated.m[key]
	if !ok {
		e = &validation{}
		m.validated.m[key] = e
	}
	m.validated.mu.Unlock()
	e.once.Do(func() { e.err = validate(v.resources, &m.validated.checks) })
	return e.err
}
