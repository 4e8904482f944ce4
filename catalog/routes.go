package catalog

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"

	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// routeGroups compiles each HTTPRouteGroup's matches once, skipping (with a
// problem) each match rules.HTTPRouteGroup refuses.
type routeGroups struct {
	groups map[ObjectRef]*routeGroup
}

type routeGroup struct {
	matches []HTTPMatch // valid matches, in the group's order
	byName  map[string]int
}

func (b *builder) compileRouteGroups() *routeGroups {
	rg := &routeGroups{groups: map[ObjectRef]*routeGroup{}}
	for _, g := range b.state.HTTPRouteGroups {
		if g == nil || g.Name == "" || !b.monitored[g.Namespace] {
			continue
		}
		ref := ObjectRef{"HTTPRouteGroup", g.Namespace, g.Name}
		refused := b.refuse(ref, rules.HTTPRouteGroup(g), map[string]string{"spec.matches": "match"})
		out := &routeGroup{byName: map[string]int{}}
		rg.groups[ref] = out // a group refused whole has no match, and admits nothing
		for i, m := range g.Spec.Matches {
			if refused.whole || refused.skips("spec.matches", i) {
				continue
			}
			out.byName[m.Name] = len(out.matches)
			out.matches = append(out.matches, compileMatch(ref, m))
		}
	}
	return rg
}

// compileMatch translates one match that passed rules.HTTPRouteGroup (every
// regular expression Weft writes into Envoy compiles and fits Envoy's RE2
// program size limit, methods are known, header names are names): "*" among
// the methods is any method, and header names are matched in lower case.
func compileMatch(group ObjectRef, m smispecs.HTTPMatch) HTTPMatch {
	hm := HTTPMatch{RouteGroup: group, Name: m.Name, PathRegex: m.PathRegex}
	if !slices.Contains(m.Methods, "*") && len(m.Methods) > 0 {
		hm.Methods = slices.Sorted(slices.Values(m.Methods))
		hm.Methods = slices.Compact(hm.Methods)
	}
	for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
		hm.Headers = append(hm.Headers, HeaderMatch{Name: strings.ToLower(name), ValueRegex: m.Headers[name]})
	}
	slices.SortFunc(hm.Headers, func(a, c HeaderMatch) int {
		return cmp.Or(cmp.Compare(a.Name, c.Name), cmp.Compare(a.ValueRegex, c.ValueRegex))
	})
	return hm
}

// selected returns the group's matches with these names (all of them when names
// is empty), and the names that do not exist.
func (g *routeGroup) selected(names []string) ([]HTTPMatch, []string) {
	if len(names) == 0 {
		return g.matches, nil
	}
	var out []HTTPMatch
	var missing []string
	for _, n := range names {
		i, ok := g.byName[n]
		if !ok {
			missing = append(missing, n)
			continue
		}
		out = append(out, g.matches[i])
	}
	return out, missing
}
