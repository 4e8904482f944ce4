package main

import (
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/weft-mesh/weft/catalog"
)

// staleAfter: a configuration sent and neither acknowledged nor rejected for
// this long is reported; a proxy answers within a second when it is well.
const staleAfter = time.Minute

// runtimeFinding is a problem weftd reports about one proxy.
type runtimeFinding struct {
	Object catalog.ObjectRef
	finding
}

// runtimeFindings turns weftd's proxy status (as `weft proxy status` reads
// it) into problems: each configuration a proxy rejected (NACK) is an error,
// and one left unanswered for staleAfter a warning. It is kept apart from
// fetching, so that it can be tested and fed from any copy of the status.
func runtimeFindings(statuses []replicaStatus, now time.Time) []runtimeFinding {
	var out []runtimeFinding
	for _, s := range statuses {
		obj := catalog.ObjectRef{Kind: "Proxy", Namespace: s.Identity.Namespace, Name: s.ID}
		if s.PodName != "" {
			obj = catalog.ObjectRef{Kind: "Pod", Namespace: s.PodNamespace, Name: s.PodName}
		}
		field := "proxy " + s.ID
		for _, typ := range slices.Sorted(maps.Keys(s.Types)) {
			t := s.Types[typ]
			switch {
			case t.Nack != nil:
				out = append(out, runtimeFinding{obj, finding{Field: field, Severity: "error",
					Reason: fmt.Sprintf("the proxy rejected (NACK) %s version %s: %s", typ, t.Nack.Version, oneLine(t.Nack.Message))}})
			case t.Sent != "" && t.Sent != t.Acked && now.Sub(t.SentAt) > staleAfter:
				out = append(out, runtimeFinding{obj, finding{Field: field, Severity: "warning",
					Reason: fmt.Sprintf("%s version %s sent at %s is not acknowledged", typ, t.Sent, t.SentAt.UTC().Format(time.RFC3339))}})
			}
		}
	}
	return out
}

func (a *analysis) addRuntime(fs []runtimeFinding) {
	for _, f := range fs {
		a.add(f.Object, f.finding)
	}
}
