package catalog

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/weft-mesh/weft/pkg/healthprobe"
	"github.com/weft-mesh/weft/pkg/identity"
)

// healthProbes collects, per identity, the probes the injector rewrote on its
// pods (the pkg/healthprobe annotation): the sidecar forwards them from
// 15901-15904 to the app. Pods of one identity normally share a template; where
// two disagree on where a rewritten probe goes, the first pod's (by namespace
// and name) wins and the other pod is a Problem.
func (b *builder) healthProbes() map[identity.Identity][]healthprobe.Probe {
	keys := make([]podKey, 0, len(b.pods))
	for k := range b.pods {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(x, y podKey) int {
		return cmp.Or(cmp.Compare(x.namespace, y.namespace), cmp.Compare(x.name, y.name))
	})

	type slot struct {
		port int32
		path string
	}
	out := map[identity.Identity][]healthprobe.Probe{}
	taken := map[identity.Identity]map[slot]healthprobe.Probe{}
	for _, k := range keys {
		p := b.pods[k]
		probes, err := healthprobe.Parse(p.Annotations)
		obj := ObjectRef{Kind: "Pod", Namespace: p.Namespace, Name: p.Name}
		if err != nil {
			b.problems.add(obj, "metadata.annotations", "%v; its health probes are not forwarded", err)
			continue
		}
		id := identity.FromPod(p)
		for _, probe := range probes {
			if !validProbe(probe) {
				b.problems.add(obj, "metadata.annotations", "annotation %s: probe %+v is not one the injector writes; not forwarded", healthprobe.Annotation, probe)
				continue
			}
			s := slot{probe.Port, probe.Path}
			if taken[id] == nil {
				taken[id] = map[slot]healthprobe.Probe{}
			}
			if prev, ok := taken[id][s]; ok {
				if prev.Original != probe.Original {
					b.problems.warn(obj, "metadata.annotations", "its %s probe on port %d goes to %s, another pod of %s sends it to %s; the other pod's wins",
						probe.Kind, probe.Port, describe(probe.Original), id, describe(prev.Original))
				}
				continue
			}
			taken[id][s] = probe
			out[id] = append(out[id], probe)
		}
	}
	for id := range out {
		slices.SortFunc(out[id], func(x, y healthprobe.Probe) int {
			return cmp.Or(cmp.Compare(x.Port, y.Port), cmp.Compare(x.Path, y.Path))
		})
	}
	return out
}

func validProbe(p healthprobe.Probe) bool {
	inRange := p.Port >= healthprobe.LivenessPort && p.Port <= healthprobe.TCPPort
	original := p.Original.Port > 0 && p.Original.Port <= 65535
	switch p.Original.Scheme {
	case "HTTP", "HTTPS", "TCP":
	default:
		return false
	}
	return inRange && original
}

func describe(o healthprobe.Original) string {
	return fmt.Sprintf("%s port %d%s", o.Scheme, o.Port, o.Path)
}
