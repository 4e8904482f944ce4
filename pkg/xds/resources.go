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
	"google.golang.org/protobuf/proto"
)

// Resources are one proxy's configuration, by type URL (resource.ListenerType,
// resource.ClusterType, ...).
type Resources map[resource.Type][]types.Resource

// versioned is a proxy's configuration with a content version per type.
type versioned struct {
	resources Resources
	versions  map[resource.Type]string
	bytes     int
}

// versionMemo remembers the versions of resource slices that several proxies
// share (Mesh hands every proxy of an identity the same slices), so a push
// hashes each shared slice once. It keeps the slices it remembers alive, so a
// remembered address can never be reused by other content; it lives for one
// Push.
type versionMemo struct {
	mu sync.Mutex
	m  map[*types.Resource]memoized

	// validated memoizes validation (see validate).
	validated validations
}

type memoized struct {
	items   []types.Resource
	version string
	bytes   int
}

func (m *versionMemo) get(items []types.Resource) (memoized, bool) {
	if m == nil || len(items) == 0 {
		return memoized{}, false
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	e, ok := m.m[&items[0]]
	return e, ok && len(e.items) == len(items)
}

func (m *versionMemo) put(items []types.Resource, version string, bytes int) {
	if m == nil || len(items) == 0 {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.m == nil {
		m.m = map[*types.Resource]memoized{}
	}
	m.m[&items[0]] = memoized{items: items, version: version, bytes: bytes}
}

// version hashes each type's resources in name order, so that the same
// configuration always gets the same version and a proxy is only sent what
// changed.
func version(r Resources, memo *versionMemo) (*versioned, error) {
	v := &versioned{resources: r, versions: make(map[resource.Type]string, len(r))}
	marshal := proto.MarshalOptions{Deterministic: true}
	for typ, items := range r {
		if e, ok := memo.get(items); ok {
			v.versions[typ] = e.version
			v.bytes += e.bytes
			continue
		}
		size := 0
		sorted := slices.Clone(items)
		slices.SortFunc(sorted, func(a, b types.Resource) int {
			return compareStrings(cachev3.GetResourceName(a), cachev3.GetResourceName(b))
		})
		h := sha256.New()
		for _, item := range sorted {
			b, err := marshal.Marshal(item)
			if err != nil {
				return nil, fmt.Errorf("marshalling %s %q: %w", typ, cachev3.GetResourceName(item), err)
			}
			size += len(b)
			fmt.Fprintf(h, "%d:", len(b))
			h.Write(b)
		}
		v.versions[typ] = hex.EncodeToString(h.Sum(nil))[:16]
		v.bytes += size
		memo.put(items, v.versions[typ], size)
	}
	return v, nil
}

// snapshot builds the cache's snapshot with one version per type.
func (v *versioned) snapshot() (*cachev3.Snapshot, error) {
	s := &cachev3.Snapshot{}
	for typ, items := range v.resources {
		index := cachev3.GetResponseType(typ)
		if index == types.UnknownType {
			return nil, fmt.Errorf("unknown resource type %q", typ)
		}
		s.Resources[index] = cachev3.NewResources(v.versions[typ], items)
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
