package catalog

import (
	"net/netip"
	"reflect"
	"slices"
	"testing"

	"github.com/weft-mesh/weft/pkg/identity"
)

// notHashed are the model fields the identity hash may leave out, each
// because the generator never reads it. Empty: the hasher covers every field.
var notHashed = []string{}

// TestHashCoversEveryField guards the hand-kept hasher against a new model
// field: it fills every exported field reachable from the mesh settings, a
// Service and an identity's view, then changes each in turn and requires the
// identity's hash to change. A field the generator never reads may be listed
// in notHashed instead. (FuzzChangeDetection in pkg/envoy checks the other
// half: that equal hashes give equal resources.)
func TestHashCoversEveryField(t *testing.T) {
	m := fullModel()
	id := m.Identities[0].Identity
	base := hashOf(m, id)
	seen := map[uintptr]bool{}
	leaves := 0
	var missing []string
	visit := func(path string, v reflect.Value) {
		restore, ok := perturb(v)
		if !ok {
			return
		}
		leaves++
		if hashOf(m, id) == base && !slices.Contains(notHashed, path) {
			missing = append(missing, path)
		}
		restore()
		if hashOf(m, id) != base {
			t.Fatalf("restoring %s did not restore the hash", path)
		}
	}
	walk(reflect.ValueOf(&m.Settings).Elem(), "Settings", seen, visit)
	// Services first: the view's pointers to them are then seen.
	for _, s := range m.Services {
		walk(reflect.ValueOf(s), "Service", seen, visit)
	}
	walk(reflect.ValueOf(m.Identities[0]), "IdentityView", seen, visit)
	if leaves < 100 {
		t.Fatalf("only %d fields reached", leaves)
	}
	for _, p := range missing {
		t.Errorf("changing %s leaves the identity hash as it was: add it to the hasher in changes.go (or, if the generator never reads it, to notHashed)", p)
	}
}

// fullModel is a model of one Service and one identity that serves it, may
// reach it and is an egress source, with every exported field set, linked as
// Build links them.
func fullModel() *Model {
	s := &Service{}
	fill(reflect.ValueOf(s).Elem(), 0)
	v := &IdentityView{}
	fill(reflect.ValueOf(v).Elem(), 0)
	v.Services = []ServiceRef{s.ServiceRef}
	v.Inbound[0].Service = s.ServiceRef
	v.Outbound[0].Service = s
	v.Outbound[0].Backends[0].Service = s
	v.Ingress[0].Backend = s.ServiceRef
	m := &Model{Services: []*Service{s}, Identities: []*IdentityView{v},
		services: map[ServiceRef]*Service{s.ServiceRef: s}}
	fill(reflect.ValueOf(&m.Settings).Elem(), 0)
	return m
}

var prefixType = reflect.TypeFor[netip.Prefix]()

// fill sets every exported field reachable from v to something other than
// its zero value: slices and maps get one element, pointers a value.
func fill(v reflect.Value, depth int) {
	if depth > 20 || !v.CanSet() {
		return
	}
	switch {
	case v.Type() == prefixType:
		v.Set(reflect.ValueOf(netip.MustParsePrefix("10.0.0.0/8")))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("a")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(1)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), depth+1)
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		v.SetMapIndex(k, e)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	}
}

// walk calls visit with every settable leaf reachable from v, once for each
// pointer seen.
func walk(v reflect.Value, path string, seen map[uintptr]bool, visit func(string, reflect.Value)) {
	switch {
	case v.Type() == prefixType:
		visit(path, v)
		return
	}
	switch v.Kind() {
	case reflect.Pointer:
		if v.IsNil() || seen[v.Pointer()] {
			return
		}
		seen[v.Pointer()] = true
		walk(v.Elem(), path, seen, visit)
	case reflect.Slice:
		for i := range v.Len() {
			walk(v.Index(i), path+"[]", seen, visit)
		}
	case reflect.Struct:
		for i := range v.NumField() {
			if f := v.Type().Field(i); f.IsExported() {
				walk(v.Field(i), path+"."+f.Name, seen, visit)
			}
		}
	default:
		visit(path, v)
	}
}

// perturb changes a leaf and returns how to undo it; false for what it cannot
// change.
func perturb(v reflect.Value) (restore func(), ok bool) {
	if !v.CanSet() {
		return nil, false
	}
	old := reflect.New(v.Type()).Elem()
	old.Set(v)
	restore = func() { v.Set(old) }
	if v.Type() == prefixType {
		v.Set(reflect.ValueOf(netip.MustParsePrefix("192.0.2.0/24")))
		return restore, true
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(v.Uint() + 1)
	case reflect.Float32, reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.Map:
		if v.Type().Key().Kind() != reflect.String {
			return nil, false
		}
		m := reflect.MakeMap(v.Type())
		for _, k := range v.MapKeys() {
			m.SetMapIndex(k, v.MapIndex(k))
		}
		m.SetMapIndex(reflect.ValueOf("changed").Convert(v.Type().Key()), reflect.New(v.Type().Elem()).Elem())
		v.Set(m)
	default:
		return nil, false
	}
	return restore, true
}

// hashOf is id's hash in m, computed afresh.
func hashOf(m *Model, id identity.Identity) uint64 {
	_, hashes := hashIdentities(m)
	return hashes[id]
}
