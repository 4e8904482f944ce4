// Package gateway provisions, for each Gateway of Weft's GatewayClass
// (controllerName weft.io/gateway-controller) in the mesh's namespaces, what
// runs it: a ServiceAccount (the gateway's identity), a Deployment of Envoy,
// and a LoadBalancer Service on the Gateway's listener ports, each named
// <gateway>-weft-gateway (state.GatewayProvisionedName) and owned by the
// Gateway, so that deleting the Gateway deletes them through the garbage
// collector.
//
// The Envoy pods carry the osm-proxy-uuid label, the bootstrap volume and
// the weft.dev/gateway annotation: injector.BootstrapSecrets writes and
// renews their bootstrap Secret with a proxy certificate of kind gateway,
// and the ADS server serves them their Gateway's listeners (pkg/envoy).
//
// Provisioner.Write is a control-plane StatusWriter: weftd runs it on the
// leader only, beside the policy statuses, on each State. It imports API
// types, controller-runtime's client, the injector's names and
// pkg/k8s/state; never the catalog or pkg/xds.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"slices"
	"strconv"
	"sync"

	"github.com/google/uuid"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"

	"github.com/weft-mesh/weft/injector"
	"github.com/weft-mesh/weft/injector/redirect"
	"github.com/weft-mesh/weft/pkg/k8s/state"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// LabelGateway on what is provisioned names its Gateway; the Deployment's
// pods are selected by it.
const LabelGateway = "weft.io/gateway"

// FieldOwner is the server-side apply field manager of what is provisioned.
const FieldOwner = "weftd-gateway"

// proxyIDSpace derives a gateway's proxy UUID from its Gateway's UID.
var proxyIDSpace = uuid.MustParse("8d0c8a4e-5f1b-4c57-9a61-2b7c3d9e0f11")

// Provisioner keeps each Weft Gateway's ServiceAccount, Deployment and
// Service as the Gateway says. Safe for concurrent use.
type Provisioner struct {
	// Client writes to the API server directly.
	Client client.Client
	// MeshName labels what is provisioned (mesh.LabelMeshName).
	MeshName string
	// Logger; default discards.
	Logger *slog.Logger

	mu sync.Mutex
	// applied is, per Gateway UID, the hash of what was last applied: an
	// unchanged Gateway costs no request while its objects are in the State.
	applied map[string]uint64
}

// Write provisions every Gateway of Weft's class in s (the problems are not
// read: a Gateway with invalid listeners still gets its proxy). It has the
// signature of controlplane.StatusWriter.
func (p *Provisioner) Write(ctx context.Context, s *state.State, _ func(kind, namespace, name string) []string) error {
	classes := s.WeftGatewayClasses()
	image := injector.DefaultEnvoyImage
	logLevel := ""
	if mc := s.MeshConfig; mc != nil {
		if mc.Spec.Sidecar.EnvoyImage != "" {
			image = mc.Spec.Sidecar.EnvoyImage
		}
		logLevel = mc.Spec.Sidecar.LogLevel
	}
	monitored := map[string]bool{}
	for _, ns := range s.Namespaces {
		monitored[ns.Name] = true
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.applied == nil {
		p.applied = map[string]uint64{}
	}
	seen := map[string]bool{}
	var errs []error
	for _, gw := range s.Gateways {
		if gw == nil || !classes[string(gw.Spec.GatewayClassName)] || !monitored[gw.Namespace] || gw.DeletionTimestamp != nil {
			continue
		}
		uid := string(gw.UID)
		seen[uid] = true
		objs := Objects(gw, image, logLevel, p.MeshName)
		h := hashOf(objs)
		name := state.GatewayProvisionedName(gw.Name)
		if p.applied[uid] == h && hasService(s, gw.Namespace, name) && hasServiceAccount(s, gw.Namespace, name) {
			continue
		}
		if err := p.apply(ctx, gw, objs); err != nil {
			errs = append(errs, fmt.Errorf("provisioning Gateway %s/%s: %w", gw.Namespace, gw.Name, err))
			delete(p.applied, uid)
			continue
		}
		p.applied[uid] = h
		p.log().Info("provisioned the gateway", "gateway", gw.Namespace+"/"+gw.Name, "image", image)
	}
	for uid := range p.applied {
		if !seen[uid] {
			delete(p.applied, uid) // the garbage collector removes its objects
		}
	}
	return errors.Join(errs...)
}

// apply writes objs with server-side apply, leaving alone any object of the
// same name that the Gateway does not own (a user's).
func (p *Provisioner) apply(ctx context.Context, gw *gatewayv1.Gateway, objs []client.Object) error {
	for _, o := range objs {
		current := o.DeepCopyObject().(client.Object)
		switch err := p.Client.Get(ctx, client.ObjectKeyFromObject(o), current); {
		case apierrors.IsNotFound(err):
		case err != nil:
			return err
		case !metav1.IsControlledBy(current, gw):
			return fmt.Errorf("%T %s exists and is not the Gateway's; left alone", o, o.GetName())
		}
		gvk, err := apiutil.GVKForObject(o, p.Client.Scheme())
		if err != nil {
			return err
		}
		fields, err := runtime.DefaultUnstructuredConverter.ToUnstructured(o)
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{Object: fields}
		u.SetGroupVersionKind(gvk)
		if err := p.Client.Apply(ctx, client.ApplyConfigurationFromUnstructured(u), client.FieldOwner(FieldOwner), client.ForceOwnership); err != nil {
			return fmt.Errorf("applying %T %s: %w", o, o.GetName(), err)
		}
	}
	return nil
}

// Objects are what a Gateway is given: its ServiceAccount, Deployment and
// Service (in that order), owned by it. image is the Envoy image, logLevel
// Envoy's (empty: the MeshConfig's default).
func Objects(gw *gatewayv1.Gateway, image, logLevel, meshName string) []client.Object {
	name := state.GatewayProvisionedName(gw.Name)
	labels := map[string]string{LabelGateway: gw.Name, "app.kubernetes.io/managed-by": "weftd"}
	if meshName != "" {
		labels[mesh.LabelMeshName] = meshName
	}
	meta := func(kind string) (metav1.TypeMeta, metav1.ObjectMeta) {
		api := "v1"
		if kind == "Deployment" {
			api = "apps/v1"
		}
		return metav1.TypeMeta{APIVersion: api, Kind: kind}, metav1.ObjectMeta{
			Name: name, Namespace: gw.Namespace, Labels: labels,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: gatewayv1.GroupVersion.String(), Kind: "Gateway",
				Name: gw.Name, UID: gw.UID, Controller: ptr.To(true)}},
		}
	}
	var ports []corev1.ServicePort
	var containerPorts []corev1.ContainerPort
	for _, l := range gw.Spec.Listeners {
		port := int32(l.Port)
		if slices.ContainsFunc(ports, func(p corev1.ServicePort) bool { return p.Port == port }) {
			continue
		}
		pname := "port-" + strconv.Itoa(int(port))
		ports = append(ports, corev1.ServicePort{Name: pname, Port: port, TargetPort: intstr.FromInt32(port), Protocol: corev1.ProtocolTCP})
		containerPorts = append(containerPorts, corev1.ContainerPort{Name: fmt.Sprintf("gw-%d", port), ContainerPort: port, Protocol: corev1.ProtocolTCP})
	}
	// One proxy UUID per Gateway: the bootstrap renewer serves a UUID only
	// to a pod that alone claims it, hence one replica, recreated.
	id := uuid.NewSHA1(proxyIDSpace, []byte(gw.UID)).String()
	if logLevel == "" {
		logLevel = "error"
	}

	saType, saMeta := meta("ServiceAccount")
	sa := &corev1.ServiceAccount{TypeMeta: saType, ObjectMeta: saMeta, AutomountServiceAccountToken: ptr.To(false)}

	svcType, svcMeta := meta("Service")
	svc := &corev1.Service{TypeMeta: svcType, ObjectMeta: svcMeta, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeLoadBalancer, Selector: map[string]string{LabelGateway: gw.Name}, Ports: ports}}

	depType, depMeta := meta("Deployment")
	podLabels := map[string]string{LabelGateway: gw.Name, injector.LabelProxyUUID: id}
	envoy := corev1.Container{
		Name:            injector.EnvoyContainerName,
		Image:           image,
		ImagePullPolicy: corev1.PullIfNotPresent,
		Command:         []string{"envoy"},
		Args: []string{"--config-path", injector.BootstrapMountPath + "/" + injector.BootstrapFileName,
			"--log-level", logLevel, "--disable-hot-restart"},
		Ports:        containerPorts,
		VolumeMounts: []corev1.VolumeMount{{Name: injector.BootstrapVolumeName, MountPath: injector.BootstrapMountPath, ReadOnly: true}},
		SecurityContext: &corev1.SecurityContext{
			RunAsUser: ptr.To[int64](redirect.ProxyUID), RunAsGroup: ptr.To[int64](redirect.ProxyUID), RunAsNonRoot: ptr.To(true),
			AllowPrivilegeEscalation: ptr.To(false),
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
			SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
		},
	}
	if len(containerPorts) > 0 {
		// Ready once the first listener is configured from the control plane.
		envoy.ReadinessProbe = &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(containerPorts[0].ContainerPort)}},
			PeriodSeconds: 5, TimeoutSeconds: 1, FailureThreshold: 3,
		}
	}
	dep := &appsv1.Deployment{TypeMeta: depType, ObjectMeta: depMeta, Spec: appsv1.DeploymentSpec{
		Replicas: ptr.To[int32](1),
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{LabelGateway: gw.Name}},
		Strategy: appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType},
		Template: corev1.PodTemplateSpec{
			ObjectMeta: metav1.ObjectMeta{Labels: podLabels, Annotations: map[string]string{
				injector.AnnotationGateway: gw.Name,
				// Provisioned with its proxy: the injector leaves it alone.
				injector.AnnotationSidecarInjection: "disabled",
			}},
			Spec: corev1.PodSpec{
				ServiceAccountName:           name,
				AutomountServiceAccountToken: ptr.To(false),
				Containers:                   []corev1.Container{envoy},
				Volumes: []corev1.Volume{{Name: injector.BootstrapVolumeName, VolumeSource: corev1.VolumeSource{
					Secret: &corev1.SecretVolumeSource{SecretName: injector.BootstrapSecretName(id)}}}},
				SecurityContext: &corev1.PodSecurityContext{
					// Listeners on 80 and 443 without a capability.
					Sysctls: []corev1.Sysctl{{Name: "net.ipv4.ip_unprivileged_port_start", Value: "0"}},
				},
			},
		},
	}}
	return []client.Object{sa, dep, svc}
}

func hashOf(objs []client.Object) uint64 {
	h := fnv.New64a()
	for _, o := range objs {
		b, _ := json.Marshal(o)
		h.Write(b)
	}
	return h.Sum64()
}

func hasService(s *state.State, ns, name string) bool {
	return slices.ContainsFunc(s.Services, func(x *corev1.Service) bool { return x.Namespace == ns && x.Name == name })
}

func hasServiceAccount(s *state.State, ns, name string) bool {
	return slices.ContainsFunc(s.ServiceAccounts, func(x *corev1.ServiceAccount) bool { return x.Namespace == ns && x.Name == name })
}

func (p *Provisioner) log() *slog.Logger {
	if p.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Logger
}
