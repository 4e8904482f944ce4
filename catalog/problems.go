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
	// Reason says what is wrong, and what was skipped unless Skipped says it.
	// For what admission refuses too (package rules), it is the webhook's
	// message, word for word.
	Reason string
	// Skipped says what the catalog left out for a rule's error, such as
	// "source skipped" or "IngressBackend skipped".
	Skipped string
	// Warning marks a problem that leaves the input in force, as written or
	// nearly (a setting not honoured, a part without effect); every other
	// problem left input out.
	Warning bool
}

// Severity is "warning" or "error", as `weft analyze` reports it.
func (p Problem) Severity() string {
	if p.Warning {
		return "warning"
	}
	return "error"
}

// String is the problem as `weft render` and weftd's log show it: the object,
// the field and the reason, which for a rule's error read as the webhook's
// refusal does, then what was skipped.
func (p Problem) String() string {
	if p.Object == (ObjectRef{}) { // a document not read may name no object
		return p.Detail()
	}
	return p.Object.String() + ": " + p.Detail()
}

// Detail is the problem without the object, as the object's own status and
// events say it: the field, the reason, and what was skipped.
func (p Problem) Detail() string {
	s := p.Reason
	if p.Field != "" {
		s = p.Field + ": " + s
	}
	if p.Skipped != "" {
		s += "; " + p.Skipped
	}
	return s
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

// warn adds a problem that leaves the input in force (Problem.Warning).
func (ps *problems) warn(obj ObjectRef, field, format string, args ...any) {
	*ps = append(*ps, Problem{Object: obj, Field: field, Reason: fmt.Sprintf(format, args...), Warning: true})
}

func (ps problems) sorted() []Problem {
	out := slices.Clone([]Problem(ps))
	slices.SortStableFunc(out, func(a, b Problem) int {
		return cmp.Or(cmp.Compare(a.Object.Kind, b.Object.Kind), cmp.Compare(a.Object.Namespace, b.Object.Namespace),
			cmp.Compare(a.Object.Name, b.Object.Name))
	})
	return out
}
