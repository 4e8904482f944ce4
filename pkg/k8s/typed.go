package k8s

import (
	"encoding/json"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
)

// Typed turns a decoded object into its Go type from scheme (Scheme() when
// nil). It returns nil and no error for a kind the scheme does not know, and an
// error when the document does not fit its type (a weight that is not a
// quantity, a header list of two-key maps...); the caller names the object,
// as Rejected does.
//
// The conversion goes through JSON so that the types' own UnmarshalJSON run
// (SMI's header list, resource.Quantity), exactly as when a client reads the
// object from the API server.
func Typed(u *unstructured.Unstructured, scheme *runtime.Scheme) (runtime.Object, error) {
	if scheme == nil {
		scheme = defaultScheme
	}
	gvk := u.GroupVersionKind()
	if !scheme.Recognizes(gvk) {
		return nil, nil
	}
	obj, err := scheme.New(gvk)
	if err != nil {
		return nil, nil
	}
	data, err := json.Marshal(u.Object)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(data, obj); err != nil {
		return nil, err
	}
	obj.GetObjectKind().SetGroupVersionKind(gvk)
	return obj, nil
}

var defaultScheme = Scheme()
