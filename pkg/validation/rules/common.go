package rules

import (
	"net/netip"
	"slices"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

var spec = field.NewPath("spec")

// regex refuses a regular expression Envoy would not take.
func regex(p *field.Path, re string) field.ErrorList {
	if err := EnvoyRegex(re); err != nil {
		return field.ErrorList{field.Invalid(p, re, err.Error())}
	}
	return nil
}

// oneOf refuses a value outside the allowed ones, in the words the API server
// uses for a CRD enum. Values are compared exactly: the schemas' enums are
// case-sensitive.
func oneOf[T ~string](p *field.Path, got T, allowed ...T) field.ErrorList {
	if slices.Contains(allowed, got) {
		return nil
	}
	return field.ErrorList{field.NotSupported(p, got, allowed)}
}

// cidr refuses what is not an IP range in CIDR notation. A bare address is
// refused too, as OSM refused it: write 10.0.0.1/32.
func cidr(p *field.Path, s string) field.ErrorList {
	if _, err := netip.ParsePrefix(s); err != nil {
		return field.ErrorList{field.Invalid(p, s, "must be a CIDR such as 10.0.0.0/8")}
	}
	return nil
}

// portNumber refuses a number that is no TCP port, as the CRD schemas do.
func portNumber(p *field.Path, n int) field.ErrorList {
	if n < 1 || n > 65535 {
		return field.ErrorList{field.Invalid(p, n, "must be between 1 and 65535, inclusive")}
	}
	return nil
}

// duration refuses a string that is no Go duration, or a negative one.
func duration(p *field.Path, s string) field.ErrorList {
	if s == "" {
		return nil
	}
	d, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return field.ErrorList{field.Invalid(p, s, `must be a duration such as "24h" or "90s"`)}
	case d < 0:
		return field.ErrorList{field.Invalid(p, s, "must be positive")}
	}
	return nil
}
