package envoy_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/internal/teststate"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// FuzzChangeDetection guards the catalog's change detection against drifting
// from the generator: the xDS server recomputes only the proxies of identities
// whose catalog.Model.IdentityHash changed, so an identity whose hash is the
// same in two models must get the same resources from both. The fuzzer builds
// a model from base and another from base with change written over it at
// offset at (at or past the end, change is appended), and generates every
// identity of the second whose hash did not change. A failure names a model
// field the generator reads and the catalog's hasher leaves out (or one it
// reads outside the identity's part of the model); commit the failing input
// the fuzzer writes to testdata/fuzz/FuzzChangeDetection with the fix, so
// that go test runs it from then on.
//
// Almost every mutation finds new coverage here, so minimise by count, not
// time, or minimising takes the whole budget (2 execs a second with 1s, about
// 190 with 1x):
//
//	go test ./pkg/envoy -run '^$' -fuzz FuzzChangeDetection -fuzztime 60s -fuzzminimizetime 1x
func FuzzChangeDetection(f *testing.F) {
	paths, _ := filepath.Glob(filepath.Join("testdata", "fixtures", "*.yaml"))
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data, []byte{}, uint32(0))
		for _, c := range changeSeeds {
			f.Add(data, []byte("\n---\n"+c), uint32(len(data)))
		}
		// Small edits in place: a digit of every address, port and weight.
		for i, b := range data {
			if b >= '0' && b <= '8' && i%7 == 0 {
				f.Add(data, []byte{b + 1}, uint32(i))
			}
		}
	}
	f.Fuzz(func(t *testing.T, base, change []byte, at uint32) {
		checkChangeDetection(t, base, overwrite(base, change, at))
	})
}

// changeSeeds are documents appended to each fixture by FuzzChangeDetection.
var changeSeeds = []string{
	`{apiVersion: config.openservicemesh.io/v1alpha2, kind: MeshConfig, metadata: {name: osm-mesh-config, namespace: osm-system},
  spec: {traffic: {enablePermissiveTrafficPolicyMode: true, enableEgress: true}}}`,
	`{apiVersion: config.openservicemesh.io/v1alpha2, kind: MeshConfig, metadata: {name: osm-mesh-config, namespace: osm-system},
  spec: {sidecar: {tlsMinProtocolVersion: TLSv1_3}, featureFlags: {enableRetryPolicy: true}}}`,
}

// overwrite returns a copy of base with change written over it at at, or
// appended when at is at or past the end.
func overwrite(base, change []byte, at uint32) []byte {
	out := slices.Clone(base)
	i := len(out)
	if int64(at) < int64(len(out)) {
		i = int(at)
	}
	for k, b := range change {
		if i+k < len(out) {
			out[i+k] = b
		} else {
			out = append(out, b)
		}
	}
	return out
}

// checkChangeDetection fails when an identity keeps its hash from the model of
// before to that of after but its resources differ.
func checkChangeDetection(t *testing.T, before, after []byte) {
	t.Helper()
	prev := catalog.Build(teststate.FromDocuments(before), mesh.Defaults())
	next := catalog.Build(teststate.FromDocuments(after), mesh.Defaults())
	changed := next.ChangedIdentities(prev)
	for _, v := range next.Identities {
		id := v.Identity
		if id.Namespace == "" || id.ServiceAccount == "" || slices.Contains(changed, id) {
			continue
		}
		h1, _ := prev.IdentityHash(id)
		h2, _ := next.IdentityHash(id)
		if h1 != h2 {
			t.Fatalf("identity %s: hashes differ but ChangedIdentities leaves it out", id)
		}
		was, err1 := envoy.Generate(prev, envoy.Proxy{Identity: id})
		is, err2 := envoy.Generate(next, envoy.Proxy{Identity: id})
		if fmt.Sprint(err1) != fmt.Sprint(err2) {
			t.Fatalf("identity %s: same hash, but generating gave %v, then %v", id, err1, err2)
		}
		if err1 != nil {
			continue
		}
		if diff := resourcesDiff(t, was, is); diff != "" {
			t.Fatalf("identity %s: same hash, different resources: %s", id, diff)
		}
	}
}

// resourcesDiff names the first resource that differs between a and b, by
// their deterministic proto encoding; each list is sorted by name already.
func resourcesDiff(t *testing.T, a, b *envoy.Resources) string {
	t.Helper()
	if !slices.Equal(a.Secrets, b.Secrets) {
		return fmt.Sprintf("secrets %v, then %v", a.Secrets, b.Secrets)
	}
	for _, typ := range []struct {
		name string
		a, b []proto.Message
	}{
		{"listener", messages(a.Listeners), messages(b.Listeners)},
		{"route", messages(a.Routes), messages(b.Routes)},
		{"cluster", messages(a.Clusters), messages(b.Clusters)},
		{"endpoint", messages(a.Endpoints), messages(b.Endpoints)},
	} {
		if len(typ.a) != len(typ.b) {
			return fmt.Sprintf("%d %ss, then %d", len(typ.a), typ.name, len(typ.b))
		}
		for i := range typ.a {
			ea, eb := encode(t, typ.a[i]), encode(t, typ.b[i])
			if !bytes.Equal(ea, eb) {
				return fmt.Sprintf("%s %d: %v\nthen: %v", typ.name, i, typ.a[i], typ.b[i])
			}
		}
	}
	return ""
}

func messages[T proto.Message](s []T) []proto.Message {
	out := make([]proto.Message, len(s))
	for i, m := range s {
		out[i] = m
	}
	return out
}

func encode(t *testing.T, m proto.Message) []byte {
	t.Helper()
	b, err := proto.MarshalOptions{Deterministic: true}.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
