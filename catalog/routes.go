package catalog

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	smispecs "github.com/servicemeshinterface/smi-sdk-go/pkg/apis/specs/v1alpha4"

	"github.com/weft-mesh/weft/pkg/validation/rules"
)

// routeGroups compiles each HTTPRouteGroup's matches once, checking their
// regular expressions, and records a problem for each match it skips.
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
		out := &routeGroup{byName: map[string]int{}}
		for i, m := range g.Spec.Matches {
			hm, reason, field := compileMatch(ref, m)
			if reason != "" {
				b.problems.add(ref, fieldIndex("spec.matches", i, field), "%s; match %q skipped", reason, m.Name)
				continue
			}
			if _, dup := out.byName[m.Name]; dup && m.Name != "" {
				b.problems.add(ref, fieldIndex("spec.matches", i, "name"), "duplicate match name %q; skipped", m.Name)
				continue
			}
			out.byName[m.Name] = len(out.matches)
			out.matches = append(out.matches, hm)
		}
		rg.groups[ref] = out
	}
	return rg
}

// compileMatch checks one match with the rules admission applies (every
// regular expression Weft writes into Envoy must compile and fit Envoy's RE2
// program size limit, the methods' one included) and returns it, or the field
// at fault and why.
func compileMatch(group ObjectRef, m smispecs.HTTPMatch) (HTTPMatch, string, string) {
	hm := HTTPMatch{RouteGroup: group, Name: m.Name, PathRegex: m.PathRegex}
	if m.PathRegex != "" {
		if err := rules.EnvoyRegex(m.PathRegex); err != nil {
			return hm, fmt.Sprintf("%q: %v", m.PathRegex, err), "pathRegex"
		}
	}
	for _, method := range m.Methods {
		method = strings.ToUpper(strings.TrimSpace(method))
		if method == "*" {
			hm.Methods = nil
			break
		}
		if method == "" {
			return hm, "empty method", "methods"
		}
		hm.Methods = append(hm.Methods, method)
	}
	if len(m.Methods) > 0 && !slices.Contains(m.Methods, "*") {
		slices.Sort(hm.Methods)
		hm.Methods = slices.Compact(hm.Methods)
	}
	if len(hm.Methods) > 0 {
		// The generator matches the methods with one regular expression.
		re := rules.MethodsRegex(hm.Methods)
		if err := rules.EnvoyRegex(re); err != nil {
			return hm, fmt.Sprintf("%q: %v", re, err), "methods"
		}
	}
	// In name order, so that the same input always gives the same problem.
	for _, name := range slices.Sorted(maps.Keys(m.Headers)) {
		value := m.Headers[name]
		if name == "" {
			return hm, "empty header name", "headers"
		}
		if err := rules.EnvoyRegex(value); err != nil {
			return hm, fmt.Sprintf("%q: %v", value, err), "headers[" + name + "]"
		}
		hm.Headers = append(hm.Headers, HeaderMatch{Name: strings.ToLower(name), ValueRegex: value})
	}
	slices.SortFunc(hm.Headers, func(a, c HeaderMatch) int {
		return cmp.Or(cmp.Compare(a.Name, c.Name), cmp.Compare(a.ValueRegex, c.ValueRegex))
	})
	return hm, "", ""
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
