package catalog

import (
	"cmp"
	"fmt"
	"slices"
)

// Problem is a piece of input the catalog skipped. It names the object and the
// field, so that it can become the object's status condition and an event.
type Problem struct {
	Object ObjectRef
	// Field is the path of the offending field, such as "spec.backends[1].service";
	// empty when the whole object is at fault.
	Field string
	// Reason says what is wrong and what was skipped.
	Reason string
}

func (p Problem) String() string {
	if p.Field == "" {
		return fmt.Sprintf("%s: %s", p.Object, p.Reason)
	}
	return fmt.Sprintf("%s: %s: %s", p.Object, p.Field, p.Reason)
}

// ProblemsFor returns the problems of one object, for its status.
func (m *Model) ProblemsFor(obj ObjectRef) []Problem {
	var out []Problem
	for _, p := range m.Problems {
		if p.Object == obj {
			out = append(out, p)
		}
	}
	return out
}

type problems []Problem

func (ps *problems) add(obj ObjectRef, field, format string, args ...any) {
	*ps = append(*ps, Problem{Object: obj, Field: field, Reason: fmt.Sprintf(format, args...)})
}

func (ps problems) sorted() []Problem {
	out := slices.Clone([]Problem(ps))
	slices.SortStableFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Object.Kind, b.Object.Kind), cmp.Compare(a.Object.Namespace, b.Object.Namespace),
			cmp.Compare(a.Object.Name, b.Object.Name))
	})
	return out
}
