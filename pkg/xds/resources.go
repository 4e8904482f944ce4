package xds

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// Resources are one proxy's configuration, by type URL (resource.ListenerType,
// resource.ClusterType, ...).
type Resources map[resource.Type][]types.Resource

// versioned is a proxy's configuration with a content version per type.
type versioned struct {
	resources Resources
	versions  map[resource.Type]string
	bytes     int
	// served are the cache's resource groups for resources, shared by every
	// proxy given the same slice (see wire).
	served map[resource.Type]cachev3.Resources
}

// versionMemo remembers the versions of resource slices that several proxies
// share (Mesh hands every proxy of an identity the same slices), so a push
// hashes each shared slice once, and each resource's wire form, so a resource
// that many slices share (pkg/envoy shares what does not depend on the
// identity) is marshalled once. It keeps the slices and resources it
// remembers alive, so a remembered address can never be reused by other
// content. A Push starts a memo; the proxies that connect until the next Push
// use it too, and it falls back to the previous Push's for what its own has
// not seen, so the memory it holds is bounded by two generations.
type versionMemo struct {
	mu    sync.Mutex
	m     map[*types.Resource]memoized
	wires map[types.Resource]*wire
	// prev is the previous Push's memo, consulted (and copied from) on a
	// miss; it is dropped when the next memo starts.
	prev *versionMemo

	// validated memoizes validation (see validate).
	validated validations
}

type memoized struct {
	items   []types.Resource
	version string
	bytes   int
	served  cachev3.Resources
}

// next returns a new memo that falls back to m, and makes m forget its own
// fallback, so that no more than two generations are held.
func (m *versionMemo) next() *versionMemo {
	if m != nil {
		m.mu.Lock()
		m.prev = nil
		m.mu.Unlock()
	}
	return &versionMemo{prev: m}
}

func (m *versionMemo) get(items []types.Resource) (memoized, bool) {
	if m == nil || len(items) == 0 {
		return memoized{}, false
	}
	m.mu.Lock()
	e, ok := m.m[&items[0]]
	prev := m.prev
	m.mu.Unlock()
	if ok && len(e.items) == len(items) {
		return e, true
	}
	if e, ok := prev.get(items); ok {
		m.put(e)
		return e, true
	}
	return memoized{}, false
}

func (m *versionMemo) put(e memoized) {
	if m == nil || len(e.items) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[*types.Resource]memoized{}
	}
	m.m[&e.items[0]] = e
}

// wire is one resource marshalled once and shared by every snapshot that holds
// it. go-control-plane marshals each resource of every response it sends
// (one response per proxy), so handing it the generator's message would make
// every proxy marshal the same bytes again; it is handed shadow instead.
type wire struct {
	bytes []byte
	// shadow is a message of the resource's type holding only its name
	// (field 1, which go-control-plane reads) with the rest of bytes as
	// unknown fields: marshalling it (name first, then the unknown fields)
	// yields bytes again by copying, without walking the message.
	shadow types.Resource
}

// wire returns item's wire form, marshalling it only the first time this memo
// (or the one before it) sees it.
func (m *versionMemo) wire(item types.Resource) (*wire, error) {
	if m != nil {
		m.mu.Lock()
		w, ok := m.wires[item]
		prev := m.prev
		m.mu.Unlock()
		if ok {
			return w, nil
		}
		if prev != nil {
			prev.mu.Lock()
			w, ok = prev.wires[item]
			prev.mu.Unlock()
		}
		if !ok {
			var err error
			if w, err = newWire(item); err != nil {
				return nil, err
			}
		}
		m.mu.Lock()
		if m.wires == nil {
			m.wires = map[types.Resource]*wire{}
		}
		m.wires[item] = w
		m.mu.Unlock()
		return w, nil
	}
	return newWire(item)
}

func newWire(item types.Resource) (*wire, error) {
	b, err := cachev3.MarshalResource(item)
	if err != nil {
		return nil, err
	}
	msg := item.ProtoReflect()
	shadow := msg.New()
	rest := b
	// Deterministic marshalling writes known fields in field-number order,
	// so a name in field 1 comes first.
	if fd := msg.Descriptor().Fields().ByNumber(1); fd != nil && fd.Kind() == protoreflect.StringKind &&
		fd.Cardinality() != protoreflect.Repeated && fd.ContainingOneof() == nil && msg.Has(fd) {
		if num, typ, n := protowire.ConsumeTag(b); n > 0 && num == 1 && typ == protowire.BytesType {
			if l := protowire.ConsumeFieldValue(num, typ, b[n:]); l >= 0 {
				shadow.Set(fd, msg.Get(fd))
				rest = b[n+l:]
			}
		}
	}
	if len(rest) > 0 {
		shadow.SetUnknown(rest)
	}
	w := &wire{bytes: b, shadow: shadow.Interface()}
	if cachev3.GetResourceName(w.shadow) != cachev3.GetResourceName(item) {
		// A type whose name is not field 1 is served as it is, and
		// marshalled per response.
		w.shadow = item
	}
	return w, nil
}

// version hashes each type's resources in name order, so that the same
// configuration always gets the same version and a proxy is only sent what
// changed.
func version(r Resources, memo *versionMemo) (*versioned, error) {
	v := &versioned{resources: r, versions: make(map[resource.Type]string, len(r)),
		served: make(map[resource.Type]cachev3.Resources, len(r))}
	for typ, items := range r {
		if e, ok := memo.get(items); ok {
			v.versions[typ] = e.version
			v.bytes += e.bytes
			v.served[typ] = e.served
			continue
		}
		size := 0
		sorted := slices.Clone(items)
		slices.SortFunc(sorted, func(a, b types.Resource) int {
			return compareStrings(cachev3.GetResourceName(a), cachev3.GetResourceName(b))
		})
		h := sha256.New()
		served := make([]types.Resource, 0, len(items))
		for _, item := range sorted {
			w, err := memo.wire(item)
			if err != nil {
				return nil, fmt.Errorf("marshalling %s %q: %w", typ, cachev3.GetResourceName(item), err)
			}
			size += len(w.bytes)
			fmt.Fprintf(h, "%d:", len(w.bytes))
			h.Write(w.bytes)
			served = append(served, w.shadow)
		}
		e := memoized{items: items, version: hex.EncodeToString(h.Sum(nil))[:16], bytes: size,
			served: cachev3.NewResources("", served)}
		e.served.Version = e.version
		v.versions[typ] = e.version
		v.served[typ] = e.served
		v.bytes += size
		memo.put(e)
	}
	return v, nil
}

// snapshot builds the cache's snapshot with one version per type. Its
// resource groups are shared with every other proxy's given the same slices,
// and hold the resources' wire forms (see wire); the cache only reads them.
func (v *versioned) snapshot() (*cachev3.Snapshot, error) {
	s := &cachev3.Snapshot{}
	for typ := range v.resources {
		index := cachev3.GetResponseType(typ)
		if index == types.UnknownType {
			return nil, fmt.Errorf("unknown resource type %q", typ)
		}
		s.Resources[index] = v.served[typ]
	}
	return s, nil
}

// key names v's content: its types and their versions.
func (v *versioned) key() string {
	var b strings.Builder
	for _, typ := range slices.Sorted(maps.Keys(v.versions)) {
		b.WriteString(typ)
		b.WriteByte('=')
		b.WriteString(v.versions[typ])
		b.WriteByte(';')
	}
	return b.String()
}

// names returns the resource names of one type.
func (v *versioned) names(typ resource.Type) map[string]bool {
	out := make(map[string]bool, len(v.resources[typ]))
	for _, item := range v.resources[typ] {
		out[cachev3.GetResourceName(item)] = true
	}
	return out
}

func compareStrings(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
