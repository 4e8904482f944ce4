package rules

import (
	"fmt"
	"regexp"
	"regexp/syntax"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxRegexProgramSize is the largest RE2 program Envoy compiles: Envoy refuses
// a google_re2 regular expression whose program is larger than the runtime
// value re2.max_program_size.error_level, 100 by default, and with it the
// whole listener or route configuration that holds it.
const MaxRegexProgramSize = 100

// EnvoyRegex checks that Envoy takes re as a safe_regex: that it is RE2 syntax
// (Go's regexp is RE2) and that its program is no larger than
// MaxRegexProgramSize.
func EnvoyRegex(re string) error {
	size, err := RegexProgramSize(re)
	if err != nil {
		return err
	}
	if size > MaxRegexProgramSize {
		return fmt.Errorf("regular expression is too large for Envoy (program size %d, limit %d)", size, MaxRegexProgramSize)
	}
	return nil
}

// RegexProgramSize estimates the size of the program C++ RE2 compiles re to
// (RE2::ProgramSize, which Envoy compares with its limit), or returns an error
// when re does not parse.
//
// It approximates C++ RE2's count; it does not reproduce it. Go's
// regexp/syntax follows RE2's design, so len(prog.Inst) of
// syntax.Compile(re.Simplify()) counts nearly the same instructions, and this
// function corrects the two large differences: C++ RE2 adds an unanchored
// ".*?" loop (two instructions), and it matches bytes, not runes, so a
// character class costs one instruction per UTF-8 byte range (suffixes shared)
// where Go counts one: `.` is 8 in C++ RE2 and 1 in Go, \pL over a thousand.
// Checked against RE2 2022-06-01 (see the test): exact for ASCII and Latin
// text, a few instructions over for alternations and leading ".*", up to twice
// the size for large Unicode classes (which are far over the limit anyway).
// RE2's count also varies a little between its versions.
func RegexProgramSize(re string) (int, error) {
	parsed, err := syntax.Parse(re, syntax.Perl)
	if err != nil {
		return 0, fmt.Errorf("not a regular expression: %w", err)
	}
	prog, err := syntax.Compile(parsed.Simplify())
	if err != nil {
		return 0, fmt.Errorf("not a regular expression: %w", err)
	}
	size := len(prog.Inst) + 2
	// A repeated class is one rune slice in many instructions: size it once.
	type class struct {
		first *rune
		n     int
	}
	classes := map[class]int{}
	for _, inst := range prog.Inst {
		var ranges []rune
		switch inst.Op {
		case syntax.InstRune1:
			ranges = []rune{inst.Rune[0], inst.Rune[0]}
		case syntax.InstRune:
			if len(inst.Rune) > 1 {
				if n, ok := classes[class{&inst.Rune[0], len(inst.Rune)}]; ok {
					size += n - 1
					continue
				}
			}
			ranges = inst.Rune
			if len(ranges) == 1 { // one rune, folded for case when Arg says so
				ranges = []rune{ranges[0], ranges[0]}
				if syntax.Flags(inst.Arg)&syntax.FoldCase != 0 {
					ranges = caseOrbit(inst.Rune[0])
				}
			}
		case syntax.InstRuneAny:
			ranges = []rune{0, unicode.MaxRune}
		case syntax.InstRuneAnyNotNL:
			ranges = []rune{0, '\n' - 1, '\n' + 1, unicode.MaxRune}
		default:
			continue
		}
		n := classSize(ranges)
		if inst.Op == syntax.InstRune && len(inst.Rune) > 1 {
			classes[class{&inst.Rune[0], len(inst.Rune)}] = n
		}
		size += n - 1
	}
	return size, nil
}

// caseOrbit returns r and the runes it folds to, as sorted one-rune ranges.
func caseOrbit(r rune) []rune {
	runes := []rune{r}
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		runes = append(runes, f)
	}
	slices.Sort(runes)
	var out []rune
	for _, c := range runes {
		out = append(out, c, c)
	}
	return out
}

// classSize is the number of byte-range instructions C++ RE2 compiles a
// character class (sorted rune ranges, as pairs) to in UTF-8 mode.
func classSize(ranges []rune) int {
	contains := func(c rune) bool {
		for i := 0; i+1 < len(ranges); i += 2 {
			if ranges[i] <= c && c <= ranges[i+1] {
				return true
			}
		}
		return false
	}
	// RE2 drops the ranges within A-Z of a class that treats A-Z as a-z, and
	// matches the a-z ones ignoring case.
	foldsASCII := true
	for c := 'a'; c <= 'z'; c++ {
		if contains(c) != contains(c-'a'+'A') {
			foldsASCII = false
			break
		}
	}
	size := 0
	nodes := map[[3]int]int{} // shared UTF-8 suffixes: (lo, hi, next) -> id
	for i := 0; i+1 < len(ranges); i += 2 {
		lo, hi := ranges[i], ranges[i+1]
		if lo <= utf8.RuneSelf-1 {
			asciiHi := min(hi, utf8.RuneSelf-1)
			if !foldsASCII || lo < 'A' || asciiHi > 'Z' {
				size++
			}
			lo = utf8.RuneSelf
		}
		if lo > hi {
			continue
		}
		if lo == utf8.RuneSelf && hi == unicode.MaxRune {
			size += 6 // RE2 compiles 80-10FFFF to six instructions
			continue
		}
		size += utf8Ranges(lo, hi, nodes)
	}
	return max(size, 1)
}

// utf8Ranges adds the byte sequences of runes lo-hi (all at or above 0x80) to
// nodes, sharing suffixes as RE2 does, and returns how many nodes it added.
func utf8Ranges(lo, hi rune, nodes map[[3]int]int) int {
	// Split into ranges whose runes have one UTF-8 length.
	for _, last := range []rune{0x7FF, 0xFFFF} {
		if lo <= last && last < hi {
			return utf8Ranges(lo, last, nodes) + utf8Ranges(last+1, hi, nodes)
		}
	}
	// Split into ranges whose runes agree on all but their trailing bytes,
	// each trailing byte covering its whole span.
	for i := 1; i < utf8.UTFMax; i++ {
		m := rune(1)<<(6*i) - 1
		if lo&^m != hi&^m {
			if lo&m != 0 {
				return utf8Ranges(lo, lo|m, nodes) + utf8Ranges((lo|m)+1, hi, nodes)
			}
			if hi&m != m {
				return utf8Ranges(lo, (hi&^m)-1, nodes) + utf8Ranges(hi&^m, hi, nodes)
			}
		}
	}
	var blo, bhi [utf8.UTFMax]byte
	n := utf8.EncodeRune(blo[:], lo)
	utf8.EncodeRune(bhi[:], hi)
	added, next := 0, 0
	for i := n - 1; i >= 0; i-- {
		key := [3]int{int(blo[i]), int(bhi[i]), next}
		id, ok := nodes[key]
		if !ok {
			id = len(nodes) + 1
			nodes[key] = id
			added++
		}
		next = id
	}
	return added
}

// MethodsRegex is the regular expression that matches one of the HTTP methods
// (already upper case) on the :method header.
func MethodsRegex(methods []string) string {
	quoted := make([]string, len(methods))
	for i, m := range methods {
		quoted[i] = regexp.QuoteMeta(m)
	}
	return strings.Join(quoted, "|")
}
