package catalog

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// refusals are the errors a rule of package rules (the webhook's rules) found
// in one object, as the catalog acts on them.
type refusals struct {
	// whole is set when an error is under none of the object's lists: the
	// object is skipped.
	whole bool
	// elements are the indexes refused in each list, such as "spec.sources".
	elements map[string]map[int]bool
}

// skips reports whether element i of list was refused.
func (r refusals) skips(list string, i int) bool { return r.elements[list][i] }

// refuse records each error of a rule as a Problem carrying the webhook's
// field path and message, and decides what it skips: an error under an
// element of one of lists (a list path such as "spec.sources", mapped to what
// its element is called, "source") skips that element; any other error skips
// the object.
func (b *builder) refuse(obj ObjectRef, errs field.ErrorList, lists map[string]string) refusals {
	r := refusals{elements: map[string]map[int]bool{}}
	nouns := make([]string, len(errs))
	for i, e := range errs {
		list, index, ok := element(e.Field, lists)
		if !ok {
			r.whole = true
			continue
		}
		if r.elements[list] == nil {
			r.elements[list] = map[int]bool{}
		}
		r.elements[list][index] = true
		nouns[i] = lists[list]
	}
	for i, e := range errs {
		skipped := obj.Kind + " skipped"
		if !r.whole {
			skipped = nouns[i] + " skipped"
		}
		b.problems = append(b.problems, Problem{Object: obj, Field: e.Field, Reason: e.ErrorBody(), Skipped: skipped})
	}
	return r
}

// element finds the list of lists that path is under, and the index in it:
// "spec.sources[2].name" is element 2 of "spec.sources".
func element(path string, lists map[string]string) (string, int, bool) {
	for list := range lists {
		rest, ok := strings.CutPrefix(path, list+"[")
		if !ok {
			continue
		}
		n, _, ok := strings.Cut(rest, "]")
		if !ok {
			return "", 0, false
		}
		i, err := strconv.Atoi(n)
		return list, i, err == nil
	}
	return "", 0, false
}
