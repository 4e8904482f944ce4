package envoy_test

import (
	"slices"
	"strings"
	"sync"
	"testing"

	endpointv3 "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/internal/teststate"
	"github.com/weft-mesh/weft/pkg/envoy"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// One ValidationCache shared by concurrent validations of every identity's
// resources gives each the result Validate gives it, also when a message
// they share is invalid: each configuration that holds it is rejected.
func TestValidationCacheAgreesWithValidate(t *testing.T) {
	m := catalog.Build(teststate.Big(40, 3, 80, permissiveMeshConfig()), mesh.Defaults())
	g := envoy.NewGenerator(m)
	var all []*envoy.Resources
	for _, v := range m.Identities {
		r, err := g.Generate(envoy.Proxy{Identity: v.Identity})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Validate(); err != nil {
			t.Fatalf("identity %s: %v", v.Identity, err)
		}
		all = append(all, r)
	}
	// Break one ClusterLoadAssignment every identity shares, in copies of
	// their resources (the generator's own must stay as they are).
	shared := all[0].Endpoints[0]
	broken := &endpointv3.ClusterLoadAssignment{ClusterName: ""}
	var withBroken []*envoy.Resources
	for _, r := range all {
		c := *r
		c.Endpoints = append([]*endpointv3.ClusterLoadAssignment(nil), r.Endpoints...)
		for i, e := range c.Endpoints {
			if e == shared {
				c.Endpoints[i] = broken
			}
		}
		withBroken = append(withBroken, &c)
	}

	var cache envoy.ValidationCache
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w; i < len(all); i += 4 {
				if err := all[i].ValidateWith(&cache); err != nil {
					t.Errorf("identity %d, cached: %v", i, err)
				}
				want := withBroken[i].Validate()
				got := withBroken[i].ValidateWith(&cache)
				if (want == nil) != (got == nil) || (want != nil && want.Error() != got.Error()) {
					t.Errorf("identity %d with a broken load assignment: cached %v, uncached %v", i, got, want)
				}
				if slices.Contains(withBroken[i].Endpoints, broken) && (got == nil || !strings.Contains(got.Error(), "cluster load assignment")) {
					t.Errorf("identity %d holds the broken load assignment but validated: %v", i, got)
				}
			}
		})
	}
	wg.Wait()
}
