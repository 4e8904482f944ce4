package k8s

import (
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"

	smiaccess "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/access/v1alpha3"
	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"

	configv1alpha2 "github.com/weft-mesh/weft/pkg/apis/config/v1alpha2"
	policyv1alpha1 "github.com/weft-mesh/weft/pkg/apis/policy/v1alpha1"
	splitv1alpha2 "github.com/weft-mesh/weft/pkg/apis/split/v1alpha2"

	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayv1beta1 "sigs.k8s.io/gateway-api/apis/v1beta1"
)

// Scheme knows Kubernetes' built-in kinds, the SMI kinds and OSM's CRD kinds.
// TrafficSplit is Weft's own type (see pkg/apis/split/v1alpha2). Gateway API's
// standard channel (v1, and v1beta1 for ReferenceGrant) is there for GAMMA.
func Scheme() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		clientgoscheme.AddToScheme,
		configv1alpha2.AddToScheme,
		policyv1alpha1.AddToScheme,
		splitv1alpha2.AddToScheme,
		smiaccess.AddToScheme,
		smispecs.AddToScheme,
		gatewayv1.Install,
		gatewayv1beta1.Install,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}
