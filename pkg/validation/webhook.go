package validation

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	admissionv1 "k8s.io/api/admission/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"
	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// Path is where weftd serves the policy webhook.
const Path = "/validate-policy"

// Webhook validates the mesh's policy kinds on create and update.
type Webhook struct {
	reader client.Reader
	checks map[schema.GroupKind]check
}

// NewWebhook returns the policy webhook. reader lists UpstreamTrafficSettings to
// find a second claim on a host; it should read the API server directly, since a
// stale cache would miss a claim made a moment ago.
func NewWebhook(reader client.Reader) *Webhook {
	w := &Webhook{reader: reader}
	w.checks = w.rules()
	return w
}

var _ admission.Handler = (*Webhook)(nil)

// HTTPHandler returns the webhook as an http.Handler for Path.
func (w *Webhook) HTTPHandler() http.Handler {
	return &admission.Webhook{Handler: w}
}

// Handle decodes the object by its kind and runs that kind's rules.
func (w *Webhook) Handle(ctx context.Context, req admission.Request) admission.Response {
	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return admission.Allowed("")
	}
	gk := schema.GroupKind{Group: req.Kind.Group, Kind: req.Kind.Kind}
	check, ok := w.checks[gk]
	if !ok {
		// The webhook configuration sends only the kinds above; anything else is
		// not this webhook's business.
		return admission.Allowed("")
	}
	name, errs, err := check(ctx, req.Object.Raw)
	if err != nil {
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("decoding %s: %w", gk.Kind, err))
	}
	if len(errs) == 0 {
		return admission.Allowed("")
	}
	status := apierrors.NewInvalid(gk, name, errs).ErrStatus
	return admission.Response{AdmissionResponse: admissionv1.AdmissionResponse{
		Allowed: false,
		Result:  &status,
	}}
}

// check decodes one kind and validates it, returning the object's name.
type check func(ctx context.Context, raw []byte) (string, field.ErrorList, error)

func rule[T metav1.Object](validate func(context.Context, T) field.ErrorList, newObj func() T) check {
	return func(ctx context.Context, raw []byte) (string, field.ErrorList, error) {
		obj := newObj()
		if err := json.Unmarshal(raw, obj); err != nil {
			return "", nil, err
		}
		return obj.GetName(), validate(ctx, obj), nil
	}
}

// pure adapts a rule that needs no other object.
func pure[T any](validate func(T) field.ErrorList) func(context.Context, T) field.ErrorList {
	return func(_ context.Context, obj T) field.ErrorList { return validate(obj) }
}

// rules are the webhook's checks by kind: the per-object rules of package
// rules, which the catalog applies too, and the checks that need the cluster.
func (w *Webhook) rules() map[schema.GroupKind]check {
	return map[schema.GroupKind]check{
		{Group: "access.smi-spec.io", Kind: "TrafficTarget"}:               rule(pure(rules.TrafficTarget), func() *smiaccess.TrafficTarget { return &smiaccess.TrafficTarget{} }),
		{Group: "specs.smi-spec.io", Kind: "HTTPRouteGroup"}:               rule(pure(rules.HTTPRouteGroup), func() *smispecs.HTTPRouteGroup { return &smispecs.HTTPRouteGroup{} }),
		{Group: "specs.smi-spec.io", Kind: "TCPRoute"}:                     rule(pure(rules.TCPRoute), func() *smispecs.TCPRoute { return &smispecs.TCPRoute{} }),
		{Group: "split.smi-spec.io", Kind: "TrafficSplit"}:                 rule(pure(rules.TrafficSplit), func() *splitv1alpha2.TrafficSplit { return &splitv1alpha2.TrafficSplit{} }),
		{Group: policyv1alpha1.GroupVersion.Group, Kind: "IngressBackend"}: rule(pure(rules.IngressBackend), func() *policyv1alpha1.IngressBackend { return &policyv1alpha1.IngressBackend{} }),
		{Group: policyv1alpha1.GroupVersion.Group, Kind: "Egress"}:         rule(pure(rules.Egress), func() *policyv1alpha1.Egress { return &policyv1alpha1.Egress{} }),
		{Group: policyv1alpha1.GroupVersion.Group, Kind: "Retry"}:          rule(pure(rules.Retry), func() *policyv1alpha1.Retry { return &policyv1alpha1.Retry{} }),
		{Group: policyv1alpha1.GroupVersion.Group, Kind: "UpstreamTrafficSetting"}: rule(func(ctx context.Context, u *policyv1alpha1.UpstreamTrafficSetting) field.ErrorList {
			return append(rules.UpstreamTrafficSetting(u), w.hostClaims(ctx, u)...)
		}, func() *policyv1alpha1.UpstreamTrafficSetting { return &policyv1alpha1.UpstreamTrafficSetting{} }),
		{Group: configv1alpha2.GroupVersion.Group, Kind: "MeshConfig"}: rule(pure(MeshConfig), func() *configv1alpha2.MeshConfig { return &configv1alpha2.MeshConfig{} }),
	}
}

// hostClaims finds another UpstreamTrafficSetting that already claims u's host
// (rules.UpstreamHost). The catalog applies the same rule to its snapshot,
// where the oldest setting keeps the host (catalog's
// attachUpstreamTrafficSettings).
func (w *Webhook) hostClaims(ctx context.Context, u *policyv1alpha1.UpstreamTrafficSetting) field.ErrorList {
	if w.reader == nil {
		return nil
	}
	var all policyv1alpha1.UpstreamTrafficSettingList
	if err := w.reader.List(ctx, &all); err != nil {
		return field.ErrorList{field.InternalError(spec.Child("host"), fmt.Errorf("listing UpstreamTrafficSettings to check for a second claim on the host: %w", err))}
	}
	claim := rules.UpstreamHost(u.Spec.Host, u.Namespace)
	for _, other := range all.Items {
		if rules.UpstreamHost(other.Spec.Host, other.Namespace) == claim && (other.Namespace != u.Namespace || other.Name != u.Name) {
			return field.ErrorList{rules.HostClaimed(u.Spec.Host, other.Namespace, other.Name)}
		}
	}
	return nil
}
