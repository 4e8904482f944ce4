package bench

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	clusterv3 "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
	"github.com/weft-mesh/weft/catalog"
	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
	"github.com/weft-mesh/weft/pkg/xds"
)

// meshShape is a synthetic mesh: services svc-0..svc-N-1 in namespace bench,
// each served by podsPer pods running as its own service account sa-i. Without
// permissive mode, sa-i may reach svc-(i+1) only.
type meshShape struct {
	services, podsPer int
	permissive        bool
}

// objects returns the cluster state; extra adds pods (and endpoints) to svc-0,
// which is the change the benchmark makes.
func (m meshShape) objects(extra int) []runtime.Object {
	const ns = "bench"
	objs := []runtime.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{k8s.MonitoredByLabel: "osm"}}},
		&configv1alpha2.MeshConfig{ObjectMeta: metav1.ObjectMeta{Name: configv1alpha2.DefaultMeshConfigName, Namespace: "osm-system"},
			Spec: configv1alpha2.MeshConfigSpec{Traffic: configv1alpha2.TrafficSpec{EnablePermissiveTrafficPolicyMode: m.permissive}}},
		&smispecs.HTTPRouteGroup{ObjectMeta: metav1.ObjectMeta{Name: "all", Namespace: ns},
			Spec: smispecs.HTTPRouteGroupSpec{Matches: []smispecs.HTTPMatch{{Name: "all", PathRegex: ".*", Methods: []string{"*"}}}}},
	}
	ready := true
	for i := range m.services {
		svc, sa := "svc-"+strconv.Itoa(i), "sa-"+strconv.Itoa(i)
		labels := map[string]string{"app": svc}
		objs = append(objs,
			&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: sa, Namespace: ns}},
			&corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns}, Spec: corev1.ServiceSpec{
				Selector: labels, ClusterIP: fmt.Sprintf("10.96.%d.%d", i/250, i%250+1),
				Ports: []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
			}},
			&smiaccess.TrafficTarget{ObjectMeta: metav1.ObjectMeta{Name: svc, Namespace: ns}, Spec: smiaccess.TrafficTargetSpec{
				Destination: smiaccess.IdentityBindingSubject{Kind: "ServiceAccount", Name: "sa-" + strconv.Itoa((i+1)%m.services), Namespace: ns},
				Sources:     []smiaccess.IdentityBindingSubject{{Kind: "ServiceAccount", Name: sa, Namespace: ns}},
				Rules:       []smiaccess.TrafficTargetRule{{Kind: "HTTPRouteGroup", Name: "all"}},
			}},
		)
		pods := m.podsPer
		if i == 0 {
			pods += extra
		}
		slice := &discoveryv1.EndpointSlice{
			ObjectMeta:  metav1.ObjectMeta{Name: svc + "-abc", Namespace: ns, Labels: map[string]string{discoveryv1.LabelServiceName: svc}},
			AddressType: discoveryv1.AddressTypeIPv4,
			Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
		}
		for j := range pods {
			name := fmt.Sprintf("%s-%d", svc, j)
			ip := fmt.Sprintf("10.%d.%d.%d", 100+i/250, i%250, j+1)
			objs = append(objs, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels},
				Spec:       corev1.PodSpec{ServiceAccountName: sa, Containers: []corev1.Container{{Name: "app", Image: "app"}}},
				Status:     corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}}},
			})
			slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
				Addresses:  []string{ip},
				Conditions: discoveryv1.EndpointConditions{Ready: &ready},
				TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: name},
			})
		}
		objs = append(objs, slice)
	}
	return objs
}

func (m meshShape) model(extra int) *catalog.Model {
	return catalog.Build(k8s.NewState(m.objects(extra), k8s.DefaultOptions(), nil), mesh.Defaults())
}

func ptr[T any](v T) *T { return &v }

// fleet is an xDS server and connected proxies, each an ADS client on its own
// mTLS connection that ACKs everything and reports each EDS version it gets.
type fleet struct {
	server  *xds.Server
	mesh    *xds.Mesh
	proxies []*simProxy
}

type simProxy struct {
	identity string
	mu       sync.Mutex
	eds      string // last EDS version received
	changed  chan struct{}
}

func newFleet(b *testing.B, shape meshShape, proxies int) *fleet {
	b.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	b.Cleanup(cancel)
	roots, err := internalca.NewRoot("bench root", internalca.DefaultRootValidity, time.Now())
	if err != nil {
		b.Fatal(err)
	}
	manager, err := ca.NewManager(ca.Options{Signer: internalca.New(roots, nil), TrustDomain: identity.DefaultTrustDomain})
	if err != nil {
		b.Fatal(err)
	}
	f := &fleet{mesh: xds.NewMesh(manager)}
	f.mesh.SetModel(shape.model(0))
	if f.server, err = xds.NewServer(ctx, xds.Options{Config: f.mesh.Config, Authenticate: manager.AuthenticateProxy, TrustDomain: manager.TrustDomain()}); err != nil {
		b.Fatal(err)
	}
	serving, err := manager.Issue(ctx, ca.LeafRequest{Kind: ca.KindService, CommonName: "weftd", DNSNames: []string{"weftd"},
		ExtKeyUsage: serverAuth, Validity: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	pair, err := tls.X509KeyPair(serving.CertChainPEM, serving.PrivateKeyPEM)
	if err != nil {
		b.Fatal(err)
	}
	g := f.server.NewGRPCServer(xds.TLSConfig(func() (*tls.Certificate, error) { return &pair, nil }, manager.BundlePool))
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go func() { _ = g.Serve(lis) }()
	b.Cleanup(g.Stop)

	var wg sync.WaitGroup
	errs := make(chan error, proxies)
	for i := range proxies {
		sa := "sa-" + strconv.Itoa(i%shape.services)
		p := &simProxy{identity: sa, changed: make(chan struct{}, 1)}
		f.proxies = append(f.proxies, p)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.connect(ctx, manager, lis.Addr().String()); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	return f
}

// connect opens the proxy's stream, subscribes to clusters and endpoints and
// returns once it holds its first EDS version; a goroutine then keeps ACKing.
func (p *simProxy) connect(ctx context.Context, manager *ca.Manager, addr string) error {
	proxy := ca.Proxy{ID: uuid.NewString(), Kind: ca.ProxySidecar, Identity: identity.Identity{Namespace: "bench", ServiceAccount: p.identity}}
	cert, err := manager.ProxyCertificate(ctx, proxy)
	if err != nil {
		return err
	}
	pair, err := tls.X509KeyPair(cert.CertChainPEM, cert.PrivateKeyPEM)
	if err != nil {
		return err
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(credentials.NewTLS(&tls.Config{
		Certificates: []tls.Certificate{pair}, RootCAs: manager.BundlePool(), ServerName: "weftd", MinVersion: tls.VersionTLS12})))
	if err != nil {
		return err
	}
	context.AfterFunc(ctx, func() { conn.Close() })
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return err
	}
	node := &core.Node{Id: proxy.CommonName("cluster.local")}
	if err := stream.Send(&discovery.DiscoveryRequest{Node: node, TypeUrl: resource.ClusterType}); err != nil {
		return err
	}
	first := make(chan struct{})
	go func() {
		var once sync.Once
		for {
			resp, err := stream.Recv()
			if err != nil {
				return
			}
			ack := &discovery.DiscoveryRequest{TypeUrl: resp.GetTypeUrl(), VersionInfo: resp.GetVersionInfo(), ResponseNonce: resp.GetNonce()}
			if resp.GetTypeUrl() == resource.ClusterType {
				// As Envoy does: subscribe to the endpoints of the EDS clusters.
				_ = stream.Send(ack)
				_ = stream.Send(&discovery.DiscoveryRequest{TypeUrl: resource.EndpointType, ResourceNames: edsClusters(resp)})
				continue
			}
			if resp.GetTypeUrl() == resource.EndpointType {
				p.mu.Lock()
				p.eds = resp.GetVersionInfo()
				p.mu.Unlock()
				select {
				case p.changed <- struct{}{}:
				default:
				}
				once.Do(func() { close(first) })
			}
			_ = stream.Send(ack)
		}
	}()
	select {
	case <-first:
		return nil
	case <-time.After(60 * time.Second):
		return fmt.Errorf("proxy %s got no endpoints in 60s", proxy)
	}
}

func edsClusters(resp *discovery.DiscoveryResponse) []string {
	var names []string
	for _, a := range resp.GetResources() {
		var c clusterv3.Cluster
		if err := a.UnmarshalTo(&c); err == nil && c.GetType() == clusterv3.Cluster_EDS {
			names = append(names, c.GetName())
		}
	}
	return names
}

func (p *simProxy) edsVersion() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.eds
}
