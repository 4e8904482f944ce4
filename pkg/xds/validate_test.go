package xds_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/xds"
)

const rejectedLog = "failed validation"

func everyProxy(ca.Proxy) bool { return true }

// invalidConfig returns the server's report of nodeID, failing if there is
// none.
func invalidConfig(t *testing.T, s *xds.Server, nodeID string) xds.InvalidConfig {
	t.Helper()
	for _, c := range s.InvalidConfigs() {
		if c.NodeID == nodeID {
			return c
		}
	}
	t.Fatalf("InvalidConfigs() = %+v, want %s among them", s.InvalidConfigs(), nodeID)
	return xds.InvalidConfig{}
}

func TestAnInvalidConfigurationIsNotServed(t *testing.T) {
	m := newMesh(t)
	p := m.connect("bookstore", "bookstore")
	s := p.sotw()
	good := map[string]string{} // the version served, by type
	for _, typ := range []string{resource.ClusterType, resource.ListenerType} {
		p.request(s, typ, nil, nil, "")
		resp := recv(t, s)
		p.request(s, typ, nil, resp, "")
		good[typ] = resp.GetVersionInfo()
	}
	since := m.clock.Now()

	t.Run("a proxy whose new configuration leaves a reference dangling keeps its last good configuration", func(t *testing.T) {
		m.generation.Add(1)
		m.dangling.Store(true)
		r := m.server.Push(context.Background(), everyProxy)
		if r.Recomputed != 1 || r.Updated != 0 || r.Invalid != 1 || r.Failed != 0 {
			t.Errorf("push = %+v, want 1 recomputed, 0 updated and 1 invalid", r)
		}
		quiet(t, s, 300*time.Millisecond)
		for typ, want := range good {
			if v, _ := m.server.CachedVersion(p.nodeID, typ); v != want {
				t.Errorf("the cache holds %s version %s, want the last good %s", typ, v, want)
			}
		}
		if res, _ := m.server.Resources(p.nodeID); xds.EnvoyResources(res).Clusters[0].GetConnectTimeout().AsDuration() != time.Second {
			t.Errorf("Resources shows the rejected configuration, want the last good one")
		}
		c := invalidConfig(t, m.server, p.nodeID)
		if c.Proxy != p.proxy || !strings.Contains(c.Error, `cluster "no-such-cluster" does not exist`) || !c.Since.Equal(since) || !c.Serving {
			t.Errorf("InvalidConfigs() has %+v, want %s since %s, serving its last good configuration, failing on the missing cluster", c, p.proxy, since)
		}
		if n := metricSum(t, m.registry, "weft_xds_invalid_configs_total"); n != 1 {
			t.Errorf("weft_xds_invalid_configs_total = %v, want 1", n)
		}
		if n := len(m.logs.lines(rejectedLog)); n != 1 {
			t.Errorf("%d lines logged about the rejected configuration, want 1", n)
		}
	})

	t.Run("the same configuration is not validated, counted or logged again", func(t *testing.T) {
		m.clock.Step(time.Minute)
		r := m.server.Push(context.Background(), everyProxy)
		if r.Invalid != 1 || r.Updated != 0 {
			t.Errorf("push = %+v, want 0 updated and 1 invalid", r)
		}
		if n := metricSum(t, m.registry, "weft_xds_invalid_configs_total"); n != 1 {
			t.Errorf("weft_xds_invalid_configs_total = %v, want still 1", n)
		}
		if n := len(m.logs.lines(rejectedLog)); n != 1 {
			t.Errorf("%d lines logged about the rejected configuration, want still 1", n)
		}
	})

	t.Run("another configuration with the same failure is counted but not logged again", func(t *testing.T) {
		m.generation.Add(1)
		m.server.Push(context.Background(), everyProxy)
		if n := metricSum(t, m.registry, "weft_xds_invalid_configs_total"); n != 2 {
			t.Errorf("weft_xds_invalid_configs_total = %v, want 2", n)
		}
		if n := len(m.logs.lines(rejectedLog)); n != 1 {
			t.Errorf("%d lines logged about the rejected configuration, want still 1", n)
		}
		if c := invalidConfig(t, m.server, p.nodeID); !c.Since.Equal(since) {
			t.Errorf("the failure is reported since %s, want since it first happened, %s", c.Since, since)
		}
	})

	t.Run("a valid configuration is served and clears the failure", func(t *testing.T) {
		m.dangling.Store(false)
		r := m.server.Push(context.Background(), everyProxy)
		if r.Updated != 1 || r.Invalid != 0 {
			t.Errorf("push = %+v, want 1 updated and 0 invalid", r)
		}
		for range 2 { // the cluster and the listener
			resp := recv(t, s)
			if resp.GetVersionInfo() == good[resp.GetTypeUrl()] {
				t.Errorf("got %s version %s again, want the new one", resp.GetTypeUrl(), resp.GetVersionInfo())
			}
			p.request(s, resp.GetTypeUrl(), nil, resp, "")
		}
		if got := m.server.InvalidConfigs(); len(got) != 0 {
			t.Errorf("InvalidConfigs() = %+v, want none", got)
		}
	})

	t.Run("a proxy that connects with an invalid configuration gets none until it is fixed", func(t *testing.T) {
		m.dangling.Store(true)
		q := m.connect("bookbuyer", "bookbuyer")
		s2 := q.sotw()
		q.request(s2, resource.ClusterType, nil, nil, "")
		quiet(t, s2, 300*time.Millisecond)
		if v, ok := m.server.CachedVersion(q.nodeID, resource.ClusterType); ok {
			t.Errorf("the cache holds clusters version %s for the proxy, want none", v)
		}
		if c := invalidConfig(t, m.server, q.nodeID); c.Serving || c.Proxy != q.proxy {
			t.Errorf("InvalidConfigs() has %+v, want %s with no configuration", c, q.proxy)
		}
		if n := len(m.logs.lines(rejectedLog)); n != 2 {
			t.Errorf("%d lines logged about rejected configurations, want 2", n)
		}
		m.dangling.Store(false)
		r := m.server.Push(context.Background(), func(p ca.Proxy) bool { return p.Identity.ServiceAccount == "bookbuyer" })
		if r.Updated != 1 {
			t.Errorf("push = %+v, want bookbuyer updated", r)
		}
		if resp := recv(t, s2); resp.GetTypeUrl() != resource.ClusterType {
			t.Errorf("got %s, want the clusters", resp.GetTypeUrl())
		}
		if got := m.server.InvalidConfigs(); len(got) != 0 {
			t.Errorf("InvalidConfigs() = %+v, want none", got)
		}
	})

	t.Run("a proxy whose configuration failed is forgotten when it disconnects", func(t *testing.T) {
		m.dangling.Store(true)
		m.generation.Add(1)
		m.server.Push(context.Background(), everyProxy)
		if n := len(m.server.InvalidConfigs()); n != 2 {
			t.Fatalf("%d invalid configurations, want both proxies'", n)
		}
		closeStream(t, s)
		if got := m.server.InvalidConfigs(); len(got) != 1 || got[0].Proxy.Identity.ServiceAccount != "bookbuyer" {
			t.Errorf("InvalidConfigs() = %+v, want only bookbuyer's", got)
		}
	})
}

func TestOptionsValidateReplacesEnvoysValidation(t *testing.T) {
	// The validator sees what Config computed: it refuses the second
	// generation's cluster, which Envoy would accept.
	refused := errors.New("a 2s connect timeout is refused")
	m := newMesh(t, func(o *xds.Options) {
		o.Validate = func(r xds.Resources) error {
			for _, item := range r[resource.ClusterType] {
				if item.(*cluster.Cluster).GetConnectTimeout().AsDuration() == 2*time.Second {
					return refused
				}
			}
			return nil
		}
	})
	p := m.connect("bookstore", "bookstore")
	s := p.sotw()
	p.request(s, resource.ClusterType, nil, nil, "")
	p.request(s, resource.ClusterType, nil, recv(t, s), "")

	for _, step := range []struct {
		name    string
		invalid int
	}{
		{name: "a configuration the validator refuses is not served", invalid: 1},
		{name: "the next configuration it accepts is served", invalid: 0},
	} {
		t.Run(step.name, func(t *testing.T) {
			m.generation.Add(1)
			r := m.server.Push(context.Background(), everyProxy)
			if r.Invalid != step.invalid || r.Updated != 1-step.invalid {
				t.Errorf("push = %+v, want %d invalid", r, step.invalid)
			}
			if got := len(m.server.InvalidConfigs()); got != step.invalid {
				t.Errorf("%d invalid configurations, want %d", got, step.invalid)
			}
		})
	}
	if resp := recv(t, s); resp.GetTypeUrl() != resource.ClusterType {
		t.Errorf("got %s, want the third generation's clusters", resp.GetTypeUrl())
	}
}
