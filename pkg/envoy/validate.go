package envoy

import (
	"errors"
	"fmt"
	"slices"
	"sync"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	corev3 "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	routev3 "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	tcpproxyv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/tcp_proxy/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
)

// Validate checks what Envoy would check before accepting the resources: each
// one passes Envoy's proto constraints (ValidateAll, with the typed configs
// inside), names are unique, and references close: every cluster a route or
// tcp_proxy names exists, every EDS cluster has a ClusterLoadAssignment, every
// RDS name has a RouteConfiguration, and every SDS name is in Secrets.
func (r *Resources) Validate() error { return r.ValidateWith(nil) }

// ValidateWith is Validate, taking from cache (when not nil) the proto
// constraints of messages it has checked before, in these resources or
// others: what a Generator shares between proxies (a Service's
// ClusterLoadAssignment, an outbound port's HTTP connection manager) is
// checked once for all of them. The references are checked every time.
func (r *Resources) ValidateWith(cache *ValidationCache) error {
	v := &validator{
		cache:    cache,
		clusters: map[string]*clusterv3.Cluster{},
		routes:   map[string]bool{},
		cla:      map[string]bool{},
		secrets:  map[string]bool{},
	}
	for _, c := range r.Clusters {
		v.check("cluster", c.GetName(), v.cache.ValidateAll(c))
		v.unique(v.clusters[c.GetName()] != nil, "cluster", c.GetName())
		v.clusters[c.GetName()] = c
	}
	for _, rc := range r.Routes {
		v.check("route configuration", rc.GetName(), v.cache.ValidateAll(rc))
		v.unique(v.routes[rc.GetName()], "route configuration", rc.GetName())
		v.routes[rc.GetName()] = true
	}
	for _, e := range r.Endpoints {
		v.check("cluster load assignment", e.GetClusterName(), v.cache.ValidateAll(e))
		v.unique(v.cla[e.GetClusterName()], "cluster load assignment", e.GetClusterName())
		v.cla[e.GetClusterName()] = true
	}
	for _, s := range r.Secrets {
		v.secrets[s] = true
	}
	for _, s := range r.GatewaySecrets {
		v.check("secret", s.GetName(), v.cache.ValidateAll(s))
		v.unique(v.secrets[s.GetName()], "secret", s.GetName())
		v.secrets[s.GetName()] = true
	}
	names := map[string]bool{}
	for _, l := range r.Listeners {
		v.check("listener", l.GetName(), v.cache.ValidateAll(l))
		v.unique(names[l.GetName()], "listener", l.GetName())
		names[l.GetName()] = true
		v.listener(l)
	}
	for _, rc := range r.Routes {
		v.routeConfig(rc)
	}
	for _, c := range r.Clusters {
		if c.GetType() == clusterv3.Cluster_EDS && !v.cla[c.GetName()] {
			v.fail("cluster %s: EDS cluster without a ClusterLoadAssignment", c.GetName())
		}
		v.transportSocket("cluster "+c.GetName(), c.GetTransportSocket())
	}
	for _, e := range r.Endpoints {
		if v.clusters[e.GetClusterName()] == nil {
			v.fail("cluster load assignment %s: no such cluster", e.GetClusterName())
		}
	}
	for what, sorted := range map[string]bool{
		"listeners": slices.IsSortedFunc(r.Listeners, byName((*listenerv3.Listener).GetName)),
		"routes":    slices.IsSortedFunc(r.Routes, byName((*routev3.RouteConfiguration).GetName)),
		"clusters":  slices.IsSortedFunc(r.Clusters, byName((*clusterv3.Cluster).GetName)),
		"secrets":   slices.IsSorted(r.Secrets),
	} {
		if !sorted {
			v.fail("%s are not sorted by name", what)
		}
	}
	return errors.Join(v.errs...)
}

func byName[T any](name func(T) string) func(a, b T) int {
	return func(a, b T) int {
		switch x, y := name(a), name(b); {
		case x < y:
			return -1
		case x > y:
			return 1
		}
		return 0
	}
}

type validator struct {
	cache    *ValidationCache
	clusters map[string]*clusterv3.Cluster
	routes   map[string]bool
	cla      map[string]bool
	secrets  map[string]bool
	errs     []error
}

func (v *validator) fail(format string, args ...any) {
	v.errs = append(v.errs, fmt.Errorf(format, args...))
}

func (v *validator) check(kind, name string, err error) {
	if err != nil {
		v.fail("%s %s: %w", kind, name, err)
	}
}

func (v *validator) unique(dup bool, kind, name string) {
	if dup {
		v.fail("%s %s: name used twice", kind, name)
	}
}

func (v *validator) cluster(where, name string) {
	if v.clusters[name] == nil {
		v.fail("%s: cluster %q does not exist", where, name)
	}
}

func (v *validator) listener(l *listenerv3.Listener) {
	if api := l.GetApiListener(); api != nil {
		// A proxyless client's listener: only an HTTP connection manager.
		hcm, ok := v.typed("listener "+l.GetName()+" api listener", api.GetApiListener()).(*hcmv3.HttpConnectionManager)
		if !ok {
			v.fail("listener %s: the api listener is not an HTTP connection manager", l.GetName())
			return
		}
		v.hcm("listener "+l.GetName(), hcm)
		return
	}
	chains := l.GetFilterChains()
	if l.GetDefaultFilterChain() != nil {
		chains = append(slices.Clone(chains), l.GetDefaultFilterChain())
	}
	if len(chains) == 0 {
		v.fail("listener %s: no filter chain", l.GetName())
	}
	chainNames := map[string]bool{}
	matches := map[string]string{}
	for _, fc := range l.GetFilterChains() {
		for _, k := range matchCombinations(fc.GetFilterChainMatch()) {
			if other, dup := matches[k]; dup {
				v.fail("listener %s: chains %s and %s have the same match %s", l.GetName(), other, fc.GetName(), k)
				break
			}
			matches[k] = fc.GetName()
		}
	}
	for _, fc := range chains {
		where := "listener " + l.GetName() + " chain " + fc.GetName()
		v.unique(chainNames[fc.GetName()], "filter chain", where)
		chainNames[fc.GetName()] = true
		v.transportSocket(where, fc.GetTransportSocket())
		for _, f := range fc.GetFilters() {
			msg := v.typed(where+" filter "+f.GetName(), f.GetTypedConfig())
			switch m := msg.(type) {
			case *hcmv3.HttpConnectionManager:
				v.hcm(where, m)
			case *tcpproxyv3.TcpProxy:
				if c := m.GetCluster(); c != "" {
					v.cluster(where, c)
				}
				for _, w := range m.GetWeightedClusters().GetClusters() {
					v.cluster(where, w.GetName())
				}
			}
		}
	}
	for _, lf := range l.GetListenerFilters() {
		v.typed("listener "+l.GetName()+" listener filter "+lf.GetName(), lf.GetTypedConfig())
	}
}

func (v *validator) hcm(where string, m *hcmv3.HttpConnectionManager) {
	if rds := m.GetRds(); rds != nil && !v.routes[rds.GetRouteConfigName()] {
		v.fail("%s: route configuration %q does not exist", where, rds.GetRouteConfigName())
	}
	if rc := m.GetRouteConfig(); rc != nil {
		v.routeConfig(rc)
	}
	for _, hf := range m.GetHttpFilters() {
		v.typed(where+" http filter "+hf.GetName(), hf.GetTypedConfig())
	}
}

// matchCombinations expands a filter chain match into every combination of
// its values, the way Envoy finds two chains with the same match.
func matchCombinations(m *listenerv3.FilterChainMatch) []string {
	cidrs := func(rs []*corev3.CidrRange) []string {
		out := []string{""}
		if len(rs) > 0 {
			out = nil
		}
		for _, r := range rs {
			out = append(out, fmt.Sprintf("%s/%d", r.GetAddressPrefix(), r.GetPrefixLen().GetValue()))
		}
		return out
	}
	orEmpty := func(s []string) []string {
		if len(s) == 0 {
			return []string{""}
		}
		return s
	}
	var out []string
	for _, dst := range cidrs(m.GetPrefixRanges()) {
		for _, sni := range orEmpty(m.GetServerNames()) {
			for _, alpn := range orEmpty(m.GetApplicationProtocols()) {
				for _, dsrc := range cidrs(m.GetDirectSourcePrefixRanges()) {
					for _, src := range cidrs(m.GetSourcePrefixRanges()) {
						out = append(out, fmt.Sprintf("port=%d dst=%s sni=%s transport=%s alpn=%s dsrc=%s type=%v src=%s ports=%v",
							m.GetDestinationPort().GetValue(), dst, sni, m.GetTransportProtocol(), alpn, dsrc, m.GetSourceType(), src, m.GetSourcePorts()))
					}
				}
			}
		}
	}
	return out
}

func (v *validator) routeConfig(rc *routev3.RouteConfiguration) {
	vhosts, domains := map[string]bool{}, map[string]bool{}
	for _, vh := range rc.GetVirtualHosts() {
		if vhosts[vh.GetName()] {
			v.fail("route configuration %s: virtual host %s twice", rc.GetName(), vh.GetName())
		}
		vhosts[vh.GetName()] = true
		for _, d := range vh.GetDomains() {
			if domains[d] {
				v.fail("route configuration %s: domain %q twice", rc.GetName(), d)
			}
			domains[d] = true
		}
	}
	for _, vh := range rc.GetVirtualHosts() {
		for _, r := range vh.GetRoutes() {
			where := "route configuration " + rc.GetName() + " virtual host " + vh.GetName()
			a := r.GetRoute()
			if c := a.GetCluster(); c != "" {
				v.cluster(where, c)
			}
			for _, w := range a.GetWeightedClusters().GetClusters() {
				v.cluster(where, w.GetName())
			}
			for name, cfg := range r.GetTypedPerFilterConfig() {
				v.typed(where+" per-filter config "+name, cfg)
			}
		}
	}
}

func (v *validator) transportSocket(where string, ts *corev3.TransportSocket) {
	if ts == nil {
		return
	}
	var common *tlsv3.CommonTlsContext
	switch m := v.typed(where+" transport socket", ts.GetTypedConfig()).(type) {
	case *tlsv3.UpstreamTlsContext:
		common = m.GetCommonTlsContext()
	case *tlsv3.DownstreamTlsContext:
		common = m.GetCommonTlsContext()
	}
	names := SDSSecretNames(common)
	for _, n := range names {
		if !v.secrets[n] {
			v.fail("%s: SDS secret %q is not in Secrets", where, n)
		}
	}
}

// typed unpacks and validates a typed config; nil when it cannot.
func (v *validator) typed(where string, a *anypb.Any) any {
	if a == nil {
		v.fail("%s: no typed config", where)
		return nil
	}
	u := v.cache.unpack(a)
	if u.unpackErr != nil {
		v.fail("%s: %w", where, u.unpackErr)
		return nil
	}
	v.check("typed config", where, u.err)
	return u.msg
}

// ValidationCache remembers the proto constraints of the messages Validate
// checked, and the typed configs it unpacked, by message: a message is never
// modified once generated, so its result holds for as long as it lives. It
// keeps the messages it remembers alive (an address is never reused while it
// is a key): use one per generation of configurations, and drop it with them.
// It remembers at most maxChecked and maxTyped of them, the first it sees:
// what many configurations share is among the first any of them holds, and
// the rest, each configuration's own, would only cost memory (in permissive
// mode, a thousand clusters an identity). A nil *ValidationCache remembers
// nothing. It is safe for concurrent use.
type ValidationCache struct {
	mu      sync.Mutex
	checked map[validatable]error
	typed   map[*anypb.Any]unpacked
}

const (
	maxChecked = 1 << 14
	maxTyped   = 1 << 12
)

type validatable interface{ ValidateAll() error }

type unpacked struct {
	msg       proto.Message
	unpackErr error
	err       error
}

// ValidateAll returns m.ValidateAll(), computed once per m.
func (c *ValidationCache) ValidateAll(m validatable) error {
	if c == nil {
		return m.ValidateAll()
	}
	c.mu.Lock()
	err, ok := c.checked[m]
	c.mu.Unlock()
	if ok {
		return err
	}
	err = m.ValidateAll()
	c.mu.Lock()
	if c.checked == nil {
		c.checked = map[validatable]error{}
	}
	if len(c.checked) < maxChecked {
		c.checked[m] = err
	}
	c.mu.Unlock()
	return err
}

// unpack returns a's message, the error unpacking it, and its proto
// constraints' error, computed once per a.
func (c *ValidationCache) unpack(a *anypb.Any) unpacked {
	if c != nil {
		c.mu.Lock()
		u, ok := c.typed[a]
		c.mu.Unlock()
		if ok {
			return u
		}
	}
	var u unpacked
	if u.msg, u.unpackErr = a.UnmarshalNew(); u.unpackErr == nil {
		if val, ok := u.msg.(validatable); ok {
			u.err = val.ValidateAll()
		}
	}
	if c != nil {
		c.mu.Lock()
		if c.typed == nil {
			c.typed = map[*anypb.Any]unpacked{}
		}
		if len(c.typed) < maxTyped {
			c.typed[a] = u
		}
		c.mu.Unlock()
	}
	return u
}
