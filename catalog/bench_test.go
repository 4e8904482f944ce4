package catalog_test

import (
	"testing"

	"github.com/weft-mesh/weft/catalog"
	"github.com/weft-mesh/weft/internal/teststate"
	"github.com/weft-mesh/weft/pkg/mesh"
)

// BenchmarkBuild builds the model of a mesh of 1,000 services (each with its own
// service account), 5,000 pods behind them, 2,000 TrafficTargets (two per
// destination, two sources each, an HTTP and a TCP rule) and 100 TrafficSplits.
func BenchmarkBuild(b *testing.B) {
	s := teststate.Big(1000, 5, 2000)
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		catalog.Build(s, mesh.Defaults())
	}
}

// BenchmarkChangedIdentities compares two models of that mesh that differ by one
// endpoint.
func BenchmarkChangedIdentities(b *testing.B) {
	s := teststate.Big(1000, 5, 2000)
	prev, next := catalog.Build(s, mesh.Defaults()), catalog.Build(s, mesh.Defaults())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		next.ChangedIdentities(prev)
	}
}

func TestBigStateBuilds(t *testing.T) {
	m := catalog.Build(teststate.Big(100, 5, 200), mesh.Defaults())
	if len(m.Services) != 100 || len(m.Problems) != 0 || len(m.Identities) != 100 {
		t.Fatalf("services %d, identities %d, problems:%s", len(m.Services), len(m.Identities), problems(m))
	}
	reaching := 0
	for _, v := range m.Identities {
		if len(v.Outbound) > 0 {
			reaching++
		}
	}
	if reaching < 50 {
		t.Fatalf("only %d identities reach anything", reaching)
	}
}
