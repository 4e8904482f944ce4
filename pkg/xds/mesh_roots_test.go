package xds_test

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"testing"

	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"github.com/envoyproxy/go-control-plane/pkg/cache/types"
	cachev3 "github.com/envoyproxy/go-control-plane/pkg/cache/v3"
	"github.com/envoyproxy/go-control-plane/pkg/resource/v3"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/pkg/identity"
	"github.com/weft-mesh/weft/pkg/k8s"
	weftmesh "github.com/weft-mesh/weft/pkg/mesh"
	"github.com/weft-mesh/weft/pkg/xds"
)

// rotatingCerts is fixedCerts with a bundle the test changes.
type rotatingCerts struct {
	fixedCerts
	mu     sync.Mutex
	bundle []byte
}

func (c *rotatingCerts) Bundle() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bundle
}

func (c *rotatingCerts) rotate(b string) {
	c.mu.Lock()
	c.bundle = []byte(b)
	c.mu.Unlock()
}

func fixtureModel(t *testing.T, files ...string) *catalog.Model {
	t.Helper()
	var objs []runtime.Object
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("..", "envoy", "testdata", "fixtures", f))
		if err != nil {
			t.Fatal(err)
		}
		o, _ := k8s.DecodeObjects(data)
		objs = append(objs, o...)
	}
	objs = append(objs, k8s.PodsFromWorkloads(objs)...)
	return catalog.Build(k8s.NewState(objs, k8s.DefaultOptions(), nil), weftmesh.Defaults())
}

// A trust-bundle secret is the same message for every identity that names
// it, so that it is marshalled and validated once (in permissive mode each
// identity names one per Service), and a new bundle, or a new model, still
// gives every proxy the bundle's current content.
func TestIdentitiesShareTrustBundleSecrets(t *testing.T) {
	certs := &rotatingCerts{bundle: []byte("roots-1")}
	m := xds.NewMesh(certs)
	m.SetModel(fixtureModel(t, "permissive.yaml", "bookstore.yaml"))
	secrets := func(id identity.Identity, n int) map[string]types.Resource {
		t.Helper()
		p := ca.Proxy{ID: "6f1c9d2e-0000-4000-8000-00000000000" + string(rune('0'+n)), Kind: ca.ProxySidecar, Identity: id}
		res, err := m.Config(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]types.Resource{}
		for _, r := range res[resource.SecretType] {
			out[cachev3.GetResourceName(r)] = r
		}
		return out
	}
	buyer := identity.Identity{Namespace: "bookbuyer", ServiceAccount: "bookbuyer"}
	warehouse := identity.Identity{Namespace: "bookwarehouse", ServiceAccount: "bookwarehouse"}
	const name = "root-cert-for-mtls-outbound:bookstore/bookstore-v1"
	a, b := secrets(buyer, 1)[name], secrets(warehouse, 2)[name]
	if a == nil || b == nil {
		t.Fatalf("%s missing: %v, %v", name, a, b)
	}
	if a != b {
		t.Errorf("two identities got distinct %s messages, want one shared", name)
	}
	trusted := func(r types.Resource) string {
		return string(r.(*tlsv3.Secret).GetValidationContext().GetTrustedCa().GetInlineBytes())
	}

	certs.rotate("roots-2")
	if got := trusted(secrets(buyer, 1)[name]); got != "roots-2" {
		t.Errorf("after the bundle changed, %s holds %q, want roots-2", name, got)
	}
	m.SetModel(fixtureModel(t, "permissive.yaml", "bookstore.yaml"))
	c := secrets(warehouse, 2)[name]
	if got := trusted(c); got != "roots-2" {
		t.Errorf("in a new model, %s holds %q, want roots-2", name, got)
	}
	if d := secrets(buyer, 1)[name]; d != c {
		t.Errorf("in a new model, two identities got distinct %s messages", name)
	}
}
