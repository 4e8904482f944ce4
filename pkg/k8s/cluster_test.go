package k8s_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/internal/testenv"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// The cluster source on a real kube-apiserver: creating, updating and deleting
// each kind changes the model, within the coalescing window plus the informers'
// latency.
func TestClusterSource(t *testing.T) {
	env := testenv.Start(t)
	suffix := fmt.Sprintf("%06d", rand.IntN(1000000))
	mesh, meshNS, app, outside := "mesh-"+suffix, "osm-"+suffix, "app-"+suffix, "ingress-"+suffix
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := env.Client

	w := &watcher{t: t}
	src := &k8s.ClusterSource{Config: env.Config, QuietWindow: 50 * time.Millisecond, MaxDelay: 500 * time.Millisecond,
		Options: k8s.Options{MeshName: mesh, MeshNamespace: meshNS}}
	done := make(chan error, 1)
	go func() { done <- src.Run(ctx, w.announce) }()
	defer func() { cancel(); <-done }()

	create := func(objs ...client.Object) {
		t.Helper()
		for _, o := range objs {
			if err := c.Create(ctx, o); err != nil {
				t.Fatalf("creating %T %s: %v", o, o.GetName(), err)
			}
		}
	}
	update := func(o client.Object, change func()) {
		t.Helper()
		if err := c.Get(ctx, client.ObjectKeyFromObject(o), o); err != nil {
			t.Fatal(err)
		}
		change()
		if err := c.Update(ctx, o); err != nil {
			t.Fatalf("updating %T %s: %v", o, o.GetName(), err)
		}
	}
	remove := func(o client.Object) {
		t.Helper()
		if err := c.Delete(ctx, o); err != nil {
			t.Fatalf("deleting %T %s: %v", o, o.GetName(), err)
		}
	}
	meta := func(ns, name string) metav1.ObjectMeta { return metav1.ObjectMeta{Namespace: ns, Name: name} }
	clientID, serverID := identity.Identity{Namespace: app, ServiceAccount: "client"}, identity.Identity{Namespace: app, ServiceAccount: "server"}
	server := catalog.ServiceRef{Namespace: app, Name: "server"}

	appNS := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: app, Labels: map[string]string{k8s.MonitoredByLabel: mesh}}}
	meshConfig := &configv1alpha2.MeshConfig{ObjectMeta: meta(meshNS, configv1alpha2.DefaultMeshConfigName),
		Spec: configv1alpha2.MeshConfigSpec{FeatureFlags: configv1alpha2.FeatureFlags{EnableEgressPolicy: true, EnableIngressBackendPolicy: true}}}
	create(appNS, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: meshNS}}, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: outside}}, meshConfig)
	service := func(name string) *corev1.Service {
		return &corev1.Service{ObjectMeta: meta(app, name), Spec: corev1.ServiceSpec{Selector: map[string]string{"app": name},
			Ports: []corev1.ServicePort{{Name: "http", Port: 80}}}}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: "server-0", Labels: map[string]string{"app": "server"}},
		Spec: corev1.PodSpec{ServiceAccountName: "server", Containers: []corev1.Container{{Name: "app", Image: "app"}}}}
	slice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: app, Name: "server-1",
		Labels: map[string]string{discoveryv1.LabelServiceName: "server"}}, AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{Name: ptr.To("http"), Port: ptr.To[int32](80)}},
		Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.0.5"}, Conditions: discoveryv1.EndpointConditions{Ready: ptr.To(true)},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: app, Name: "server-0"}}}}

	t.Run("namespaces, service accounts, services, pods and endpoint slices", func(t *testing.T) {
		create(&corev1.ServiceAccount{ObjectMeta: meta(app, "client")}, &corev1.ServiceAccount{ObjectMeta: meta(app, "server")},
			service("server"), pod, slice)
		w.waitFor(t, "server's endpoint and identity", func(m *catalog.Model) bool {
			s := m.Service(server)
			return s != nil && len(s.Endpoints) == 1 && s.Endpoints[0].Ready && s.Endpoints[0].Identity == serverID &&
				m.Identity(clientID) != nil && !m.Settings.Permissive
		})
		update(slice, func() { slice.Endpoints[0].Conditions.Ready = ptr.To(false) })
		w.waitFor(t, "the endpoint not ready", func(m *catalog.Model) bool {
			s := m.Service(server)
			return s != nil && len(s.Endpoints) == 1 && !s.Endpoints[0].Ready
		})
	})
	routes := &smispecs.HTTPRouteGroup{ObjectMeta: meta(app, "routes"), Spec: smispecs.HTTPRouteGroupSpec{
		Matches: []smispecs.HTTPMatch{{Name: "get", PathRegex: "/books", Methods: []string{"GET"}}}}}
	tcp := &smispecs.TCPRoute{ObjectMeta: meta(app, "tcp"), Spec: smispecs.TCPRouteSpec{Matches: smispecs.TCPMatch{Name: "all"}}}
	tt := &smiaccess.TrafficTarget{ObjectMeta: meta(app, "client-to-server"), Spec: smiaccess.TrafficTargetSpec{
		Destination: smiaccess.IdentityBindingSubject{Kind: "ServiceAccount", Name: "server", Namespace: app},
		Sources:     []smiaccess.IdentityBindingSubject{{Kind: "ServiceAccount", Name: "client", Namespace: app}},
		Rules:       []smiaccess.TrafficTargetRule{{Kind: "HTTPRouteGroup", Name: "routes"}}}}
	inboundRule := func(m *catalog.Model) *catalog.InboundRule {
		v := m.Identity(serverID)
		if v == nil || len(v.Inbound) != 1 || len(v.Inbound[0].Rules) != 1 {
			return nil
		}
		return &v.Inbound[0].Rules[0]
	}
	t.Run("TrafficTargets, HTTPRouteGroups and TCPRoutes", func(t *testing.T) {
		create(routes, tcp, tt)
		w.waitFor(t, "client reaching server on GET /books", func(m *catalog.Model) bool {
			r := inboundRule(m)
			return r != nil && len(r.HTTPMatches) == 1 && r.HTTPMatches[0].PathRegex == "/books" && len(m.Identity(clientID).Outbound) == 1
		})
		update(routes, func() { routes.Spec.Matches[0].PathRegex = "/books/.*" })
		w.waitFor(t, "the new path", func(m *catalog.Model) bool {
			r := inboundRule(m)
			return r != nil && len(r.HTTPMatches) == 1 && r.HTTPMatches[0].PathRegex == "/books/.*"
		})
		update(tt, func() { tt.Spec.Rules = []smiaccess.TrafficTargetRule{{Kind: "TCPRoute", Name: "tcp"}} })
		w.waitFor(t, "all traffic by the TCP route", func(m *catalog.Model) bool {
			r := inboundRule(m)
			return r != nil && r.AllTraffic
		})
		remove(tcp)
		w.waitFor(t, "the rule gone with its route", func(m *catalog.Model) bool {
			return inboundRule(m) == nil && len(m.Identity(clientID).Outbound) == 0
		})
		update(tt, func() { tt.Spec.Rules = []smiaccess.TrafficTargetRule{{Kind: "HTTPRouteGroup", Name: "routes"}} })
		w.waitFor(t, "the HTTP rule back", func(m *catalog.Model) bool { return inboundRule(m) != nil })
		remove(routes)
		remove(tt)
		w.waitFor(t, "nothing reachable", func(m *catalog.Model) bool {
			return inboundRule(m) == nil && m.Identity(clientID) != nil && len(m.Identity(clientID).Outbound) == 0
		})
	})
	t.Run("TrafficSplits with quantity weights", func(t *testing.T) {
		split := &splitv1alpha2.TrafficSplit{ObjectMeta: meta(app, "split"), Spec: splitv1alpha2.TrafficSplitSpec{Service: "server." + app,
			Backends: []splitv1alpha2.TrafficSplitBackend{{Service: "server-v1", Weight: resource.MustParse("500m")},
				{Service: "server-v2", Weight: resource.MustParse("500m")}}}}
		create(service("server-v1"), service("server-v2"), split)
		weights := func(m *catalog.Model) string {
			s := m.Service(server)
			if s == nil || s.Split == nil {
				return ""
			}
			return fmt.Sprint(s.Split.Backends)
		}
		w.waitFor(t, "an even split", func(m *catalog.Model) bool {
			return weights(m) == fmt.Sprintf("[{%s/server-v1 500} {%s/server-v2 500}]", app, app)
		})
		update(split, func() { split.Spec.Backends[1].Weight = resource.MustParse("0") })
		w.waitFor(t, "all to v1", func(m *catalog.Model) bool {
			return weights(m) == fmt.Sprintf("[{%s/server-v1 500} {%s/server-v2 0}]", app, app)
		})
		remove(split)
		w.waitFor(t, "no split", func(m *catalog.Model) bool { return m.Service(server) != nil && weights(m) == "" })
	})
	t.Run("IngressBackends with a source Service outside the mesh", func(t *testing.T) {
		nginx := &corev1.Service{ObjectMeta: meta(outside, "nginx"), Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Name: "https", Port: 443}}}}
		nginxSlice := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Namespace: outside, Name: "nginx-1",
			Labels: map[string]string{discoveryv1.LabelServiceName: "nginx"}}, AddressType: discoveryv1.AddressTypeIPv4,
			Ports:     []discoveryv1.EndpointPort{{Name: ptr.To("https"), Port: ptr.To[int32](443)}},
			Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.244.1.9"}}}}
		ib := &policyv1alpha1.IngressBackend{ObjectMeta: meta(app, "ingress"), Spec: policyv1alpha1.IngressBackendSpec{
			Backends: []policyv1alpha1.BackendSpec{{Name: "server", Port: policyv1alpha1.PortSpec{Number: 80, Protocol: "http"}}},
			Sources:  []policyv1alpha1.IngressSourceSpec{{Kind: "Service", Name: "nginx", Namespace: outside}}}}
		create(nginx, nginxSlice, ib)
		w.waitFor(t, "the ingress source resolved", func(m *catalog.Model) bool {
			return len(m.IngressRules) == 1 && fmt.Sprint(m.IngressRules[0].SourceIPRanges) == "[10.244.1.9/32]"
		})
		update(ib, func() { ib.Spec.Backends[0].Port.Protocol = "https" })
		w.waitFor(t, "https", func(m *catalog.Model) bool { return len(m.IngressRules) == 1 && m.IngressRules[0].Protocol == "https" })
		remove(ib)
		w.waitFor(t, "no ingress", func(m *catalog.Model) bool { return len(m.IngressRules) == 0 })
	})
	t.Run("Egresses", func(t *testing.T) {
		eg := &policyv1alpha1.Egress{ObjectMeta: meta(app, "out"), Spec: policyv1alpha1.EgressSpec{
			Sources: []policyv1alpha1.EgressSourceSpec{{Kind: "ServiceAccount", Name: "client", Namespace: app}},
			Hosts:   []string{"httpbin.org"}, Ports: []policyv1alpha1.PortSpec{{Number: 80, Protocol: "http"}}}}
		create(eg)
		egress := func(m *catalog.Model) []*catalog.EgressRule {
			if v := m.Identity(clientID); v != nil {
				return v.Egress
			}
			return nil
		}
		w.waitFor(t, "client's egress", func(m *catalog.Model) bool { e := egress(m); return len(e) == 1 && e[0].Hosts[0] == "httpbin.org" })
		update(eg, func() { eg.Spec.Hosts = []string{"example.org"} })
		w.waitFor(t, "the new host", func(m *catalog.Model) bool { e := egress(m); return len(e) == 1 && e[0].Hosts[0] == "example.org" })
		remove(eg)
		w.waitFor(t, "no egress", func(m *catalog.Model) bool { return m.Identity(clientID) != nil && len(egress(m)) == 0 })
	})
	t.Run("UpstreamTrafficSettings, Retries and the MeshConfig", func(t *testing.T) {
		uts := &policyv1alpha1.UpstreamTrafficSetting{ObjectMeta: meta(app, "limits"), Spec: policyv1alpha1.UpstreamTrafficSettingSpec{
			Host: "server." + app + ".svc.cluster.local", ConnectionSettings: &policyv1alpha1.ConnectionSettingsSpec{
				TCP: &policyv1alpha1.TCPConnectionSettings{MaxConnections: ptr.To[uint32](10)}}}}
		retry := &policyv1alpha1.Retry{ObjectMeta: meta(app, "retry"), Spec: policyv1alpha1.RetrySpec{
			Source:       policyv1alpha1.RetrySrcDstSpec{Kind: "ServiceAccount", Name: "client", Namespace: app},
			Destinations: []policyv1alpha1.RetrySrcDstSpec{{Kind: "Service", Name: "server", Namespace: app}},
			RetryPolicy:  policyv1alpha1.RetryPolicySpec{RetryOn: "5xx"}}}
		create(uts, retry)
		w.waitFor(t, "the setting attached, the retry behind its flag", func(m *catalog.Model) bool {
			s := m.Service(server)
			return s != nil && s.UpstreamTrafficSetting != nil && len(m.ProblemsFor(catalog.ObjectRef{Kind: "Retry", Namespace: app, Name: "retry"})) == 1
		})
		update(meshConfig, func() {
			meshConfig.Spec.FeatureFlags.EnableRetryPolicy = true
			meshConfig.Spec.Traffic.EnablePermissiveTrafficPolicyMode = true
		})
		w.waitFor(t, "permissive mode and the retry", func(m *catalog.Model) bool {
			o := outbound(m, clientID, server)
			return m.Settings.Permissive && o != nil && o.Retry != nil && o.Retry.RetryOn == "5xx"
		})
		update(uts, func() { uts.Spec.ConnectionSettings.TCP.MaxConnections = ptr.To[uint32](20) })
		w.waitFor(t, "the new limit", func(m *catalog.Model) bool {
			s := m.Service(server)
			return s != nil && s.UpstreamTrafficSetting != nil && s.UpstreamTrafficSetting.MaxConnections != nil && *s.UpstreamTrafficSetting.MaxConnections == 20
		})
		remove(uts)
		remove(retry)
		w.waitFor(t, "no setting, no retry", func(m *catalog.Model) bool {
			o := outbound(m, clientID, server)
			return o != nil && o.Retry == nil && o.Service.UpstreamTrafficSetting == nil
		})
		remove(meshConfig)
		w.waitFor(t, "OSM's defaults", func(m *catalog.Model) bool { return !m.Settings.Permissive && m.Service(server) != nil })
	})
	t.Run("pods, endpoint slices and the namespace label going away", func(t *testing.T) {
		remove(slice)
		remove(pod)
		w.waitFor(t, "no endpoints, no serving identity", func(m *catalog.Model) bool {
			s := m.Service(server)
			return s != nil && len(s.Endpoints) == 0 && len(s.Identities) == 0
		})
		update(appNS, func() { delete(appNS.Labels, k8s.MonitoredByLabel) })
		w.waitFor(t, "an empty mesh", func(m *catalog.Model) bool { return len(m.Services) == 0 && len(m.Identities) == 0 })
	})
	t.Logf("announcements: %d; slowest change seen after %v", w.count(), w.slowest)
}

// watcher keeps the latest model the source announced.
type watcher struct {
	t       *testing.T
	mu      sync.Mutex
	model   *catalog.Model
	n       int
	slowest time.Duration
}

func (w *watcher) announce(s *k8s.State) {
	m := catalog.Build(s, mesh.Defaults())
	w.mu.Lock()
	defer w.mu.Unlock()
	w.model, w.n = m, w.n+1
}

func (w *watcher) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.n
}

// waitFor polls the latest model until ok holds, for at most ten seconds.
func (w *watcher) waitFor(t *testing.T, what string, ok func(*catalog.Model) bool) {
	t.Helper()
	start := time.Now()
	deadline := start.Add(10 * time.Second)
	for {
		w.mu.Lock()
		m := w.model
		w.mu.Unlock()
		if m != nil && ok(m) {
			if d := time.Since(start); d > w.slowest {
				w.slowest = d
			}
			return
		}
		if time.Now().After(deadline) {
			var ps string
			if m != nil {
				for _, p := range m.Problems {
					ps += "\n  " + p.String()
				}
			}
			t.Fatalf("no model with %s after 10s; problems:%s", what, ps)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func outbound(m *catalog.Model, from identity.Identity, to catalog.ServiceRef) *catalog.Outbound {
	v := m.Identity(from)
	if v == nil {
		return nil
	}
	for i := range v.Outbound {
		if v.Outbound[i].Service.ServiceRef == to {
			return &v.Outbound[i]
		}
	}
	return nil
}
