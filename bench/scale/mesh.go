package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// shape is the generated mesh: Service svc-i runs as service account sa-i
// in namespace ns(i), with pods spread evenly over the Services; identity
// sa-i may reach svc-(i+1) … svc-(i+reach) over HTTP.
type shape struct {
	services, pods, namespaces, reach int
}

func (s shape) ns(i int) string  { return "scale-" + strconv.Itoa(i%s.namespaces) }
func (s shape) svc(i int) string { return "svc-" + strconv.Itoa(i) }
func (s shape) sa(i int) string  { return "sa-" + strconv.Itoa(i) }
func (s shape) identity(i int) identity.Identity {
	return identity.Identity{Namespace: s.ns(i), ServiceAccount: s.sa(i)}
}

// reaches says whether identity i may call Service j.
func (s shape) reaches(i, j int) bool {
	d := ((j-i)%s.services + s.services) % s.services
	return d >= 1 && d <= s.reach
}

// podIP is pod p's address, outside the service range.
func podIP(p int) string {
	p++
	return fmt.Sprintf("10.%d.%d.%d", 100+p/65536, p/256%256, p%256)
}

// markerIP is the address the i-th endpoint change brings in.
func markerIP(i int) string {
	i++
	return fmt.Sprintf("10.250.%d.%d", i/256%256, i%256)
}

const meshNamespace = "osm-system"

// create writes the mesh as a controller-less cluster would hold it, with
// workers writers at once.
func (s shape) create(ctx context.Context, c client.Client, meshConfigFile string, workers int) error {
	do := func(jobs []func() error) error { return parallel(ctx, workers, jobs) }
	// The namespaces and the MeshConfig first, then what pods need (service
	// accounts), then pods, then what names pods (EndpointSlices).
	jobs := []func() error{
		func() error {
			return c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: meshNamespace}})
		},
	}
	for n := range s.namespaces {
		name := s.ns(n)
		jobs = append(jobs, func() error {
			return c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{k8s.MonitoredByLabel: mesh.Defaults().Name}}})
		})
	}
	if err := do(jobs); err != nil {
		return err
	}
	objs, err := k8s.DecodeYAMLFile(meshConfigFile)
	if err != nil {
		return err
	}
	jobs = jobs[:0]
	for _, obj := range objs {
		if obj.GetKind() == "MeshConfig" {
			if err := unstructured.SetNestedField(obj.Object, false, "spec", "traffic", "enablePermissiveTrafficPolicyMode"); err != nil {
				return err
			}
		}
		jobs = append(jobs, func() error { return c.Create(ctx, obj) })
	}
	for n := range s.namespaces {
		ns := s.ns(n)
		jobs = append(jobs, func() error {
			return c.Create(ctx, &smispecs.HTTPRouteGroup{ObjectMeta: metav1.ObjectMeta{Name: "all", Namespace: ns},
				Spec: smispecs.HTTPRouteGroupSpec{Matches: []smispecs.HTTPMatch{{Name: "all", PathRegex: ".*", Methods: []string{"*"}}}}})
		})
	}
	for i := range s.services {
		jobs = append(jobs,
			func() error {
				return c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: s.sa(i), Namespace: s.ns(i)}})
			},
			func() error {
				return c.Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: s.svc(i), Namespace: s.ns(i)}, Spec: corev1.ServiceSpec{
					Selector: map[string]string{"app": s.svc(i)},
					Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromInt32(8080)}},
				}})
			},
			func() error { return c.Create(ctx, s.trafficTarget(i)) },
		)
	}
	if err := do(jobs); err != nil {
		return err
	}
	jobs = jobs[:0]
	for p := range s.pods {
		jobs = append(jobs, func() error { return s.createPod(ctx, c, p) })
	}
	if err := do(jobs); err != nil {
		return err
	}
	jobs = jobs[:0]
	for i := range s.services {
		jobs = append(jobs, func() error { return c.Create(ctx, s.endpointSlice(i)) })
	}
	return do(jobs)
}

// trafficTarget lets the reach identities before sa-i call it.
func (s shape) trafficTarget(i int) *smiaccess.TrafficTarget {
	var sources []smiaccess.IdentityBindingSubject
	for d := 1; d <= s.reach; d++ {
		src := ((i-d)%s.services + s.services) % s.services
		sources = append(sources, smiaccess.IdentityBindingSubject{Kind: "ServiceAccount", Name: s.sa(src), Namespace: s.ns(src)})
	}
	return &smiaccess.TrafficTarget{ObjectMeta: metav1.ObjectMeta{Name: s.svc(i), Namespace: s.ns(i)}, Spec: smiaccess.TrafficTargetSpec{
		Destination: smiaccess.IdentityBindingSubject{Kind: "ServiceAccount", Name: s.sa(i), Namespace: s.ns(i)},
		Sources:     sources,
		Rules:       []smiaccess.TrafficTargetRule{{Kind: "HTTPRouteGroup", Name: "all"}},
	}}
}

func (s shape) podName(p int) string { return s.svc(p%s.services) + "-" + strconv.Itoa(p/s.services) }

// createPod creates pod p of Service p mod services and gives it its IP, as
// a kubelet would.
func (s shape) createPod(ctx context.Context, c client.Client, p int) error {
	i := p % s.services
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: s.podName(p), Namespace: s.ns(i), Labels: map[string]string{"app": s.svc(i)}},
		Spec: corev1.PodSpec{ServiceAccountName: s.sa(i), AutomountServiceAccountToken: ptr(false),
			Containers: []corev1.Container{{Name: "app", Image: "app", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}}}},
	}
	if err := c.Create(ctx, pod); err != nil {
		return err
	}
	ip := podIP(p)
	pod.Status = corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip, PodIPs: []corev1.PodIP{{IP: ip}},
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}}
	return c.Status().Update(ctx, pod)
}

func (s shape) endpointSlice(i int) *discoveryv1.EndpointSlice {
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: s.svc(i) + "-0", Namespace: s.ns(i), Labels: map[string]string{discoveryv1.LabelServiceName: s.svc(i)}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr("http"), Port: ptr(int32(8080))}},
	}
	for p := i; p < s.pods; p += s.services {
		slice.Endpoints = append(slice.Endpoints, discoveryv1.Endpoint{
			Addresses:  []string{podIP(p)},
			Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)},
			TargetRef:  &corev1.ObjectReference{Kind: "Pod", Namespace: s.ns(i), Name: s.podName(p)},
		})
	}
	return slice
}

// setEndpoint makes Service i's EndpointSlice end with ip: the one
// EndpointSlice edit of the churn phase.
func (s shape) setEndpoint(ctx context.Context, c client.Client, i int, ip string) error {
	var slice discoveryv1.EndpointSlice
	if err := c.Get(ctx, client.ObjectKey{Namespace: s.ns(i), Name: s.svc(i) + "-0"}, &slice); err != nil {
		return err
	}
	ep := discoveryv1.Endpoint{Addresses: []string{ip}, Conditions: discoveryv1.EndpointConditions{Ready: ptr(true)}}
	if n := len(slice.Endpoints); n > 0 {
		slice.Endpoints[n-1].Addresses = []string{ip}
	} else {
		slice.Endpoints = append(slice.Endpoints, ep)
	}
	return c.Update(ctx, &slice)
}

// editMeshConfig changes the MeshConfig with edit.
func editMeshConfig(ctx context.Context, c client.Client, edit func(*configv1alpha2.MeshConfigSpec)) error {
	var mc configv1alpha2.MeshConfig
	if err := c.Get(ctx, client.ObjectKey{Namespace: meshNamespace, Name: mesh.Defaults().MeshConfigName}, &mc); err != nil {
		return err
	}
	edit(&mc.Spec)
	return c.Update(ctx, &mc)
}

func defaultMeshConfigFile(root string) string {
	return filepath.Join(root, "examples", "meshconfig.yaml")
}

// parallel runs jobs on workers goroutines and returns the first error.
func parallel(ctx context.Context, workers int, jobs []func() error) error {
	ch := make(chan func() error)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for job := range ch {
				if err := job(); err != nil {
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				}
			}
		}()
	}
	for _, job := range jobs {
		if ctx.Err() != nil {
			break
		}
		ch <- job
	}
	close(ch)
	wg.Wait()
	if len(errs) > 0 {
		return fmt.Errorf("%d of %d writes failed, the first: %w", len(errs), len(jobs), errs[0])
	}
	return errors.Join(ctx.Err())
}

func ptr[T any](v T) *T { return &v }
