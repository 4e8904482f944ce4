package rules

import (
	"strings"
	"testing"
)

// The sizes C++ RE2 (2022-06-01) gives, from RE2::ProgramSize; Envoy refuses
// a regular expression over MaxRegexProgramSize. The estimate must agree with
// RE2 on which side of the limit each falls.
func TestEnvoyRegexAgreesWithRE2OnTheLimit(t *testing.T) {
	tests := []struct {
		name    string
		re      string
		re2Size int
	}{
		{name: "a literal path", re: "/books", re2Size: 10},
		{name: "a path and any rest", re: "/books/.*", re2Size: 19},
		{name: "path segments of any characters but a slash", re: "/api/v1/customers/[^/]+/orders/[^/]+/items/[^/]+", re2Size: 64},
		{name: "a long counted repetition", re: "/[a-z]{1,500}/books", re2Size: 1010},
		{name: "a counted repetition under the limit", re: "/[a-z]{1,20}/books", re2Size: 50},
		{name: "a literal of 91 characters", re: "/" + strings.Repeat("a", 90), re2Size: 95},
		{name: "a literal of 103 characters", re: "/" + strings.Repeat("a", 102), re2Size: 107},
		{name: "ten dots fit", re: ".{1,10}", re2Size: 93},
		{name: "eleven dots do not: a dot is eight UTF-8 byte ranges", re: ".{1,11}", re2Size: 102},
		{name: "thirty dots do not, though Go counts 62 instructions", re: "/.{1,30}", re2Size: 274},
		{name: "a class of eight ASCII ranges", re: "[acegikmo]{1,10}", re2Size: 93},
		{name: "ASCII letters folded for case cost one", re: "[0-9A-Fa-f]{1,10}", re2Size: 33},
		{name: "a non-space ten times", re: `\S{1,10}`, re2Size: 113},
		{name: "a Unicode letter class alone", re: `\pL`, re2Size: 1197},
		{name: "a folded k includes the Kelvin sign", re: "(?i)k{1,10}", re2Size: 53},
		{name: "two-byte letters", re: "[à-ÿ]{1,10}", re2Size: 33},
		{name: "the usual methods", re: "GET|POST|PUT|DELETE|PATCH|HEAD|OPTIONS|CONNECT|TRACE", re2Size: 47},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			size, err := RegexProgramSize(tt.re)
			if err != nil {
				t.Fatal(err)
			}
			if (size > MaxRegexProgramSize) != (tt.re2Size > MaxRegexProgramSize) {
				t.Errorf("estimated size %d, RE2's %d: on different sides of the limit %d", size, tt.re2Size, MaxRegexProgramSize)
			}
			if tt.re2Size <= 2*MaxRegexProgramSize && (size < tt.re2Size-2 || size > tt.re2Size+10) {
				t.Errorf("estimated size %d, RE2's %d", size, tt.re2Size)
			}
			err = EnvoyRegex(tt.re)
			if (err != nil) != (tt.re2Size > MaxRegexProgramSize) {
				t.Errorf("EnvoyRegex = %v with RE2's size %d", err, tt.re2Size)
			}
		})
	}
}

func TestEnvoyRegexMessages(t *testing.T) {
	tests := []struct {
		name, re, want string
	}{
		{name: "too large names the size and the limit", re: "/[a-z]{1,500}/books", want: "regular expression is too large for Envoy (program size 1010, limit 100)"},
		{name: "not RE2", re: "/books/([", want: "not a regular expression: error parsing regexp: missing closing ]: `[`"},
		{name: "Perl lookahead is not RE2", re: "/books(?=/)", want: "not a regular expression: error parsing regexp: invalid or unsupported Perl syntax: `(?=`"},
		{name: "an empty expression is fine", re: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := EnvoyRegex(tt.re)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("EnvoyRegex(%q) = %v, want nil", tt.re, err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Errorf("EnvoyRegex(%q) = %v, want %s", tt.re, err, tt.want)
			}
		})
	}
}

func TestMethodsRegex(t *testing.T) {
	if got, want := MethodsRegex([]string{"GET", "M.SEARCH"}), `GET|M\.SEARCH`; got != want {
		t.Errorf("MethodsRegex = %s, want %s", got, want)
	}
}

func TestEgressHost(t *testing.T) {
	tests := []struct {
		name, host string
		want       string // substring of the error; "" means valid
	}{
		{name: "a DNS name", host: "httpbin.org"},
		{name: "a DNS name in upper case", host: "HTTPBin.org"},
		{name: "a leading wildcard", host: "*.example.com"},
		{name: "a single label", host: "localhost"},
		{name: "an IDN in punycode", host: "xn--bcher-kva.example"},
		{name: "a lone star points to egress passthrough", host: "*", want: "turn on egress passthrough (MeshConfig spec.traffic.enableEgress)"},
		{name: "an empty host", host: "", want: "must be a host name"},
		{name: "a wildcard with no name", host: "*.", want: "nothing follows the wildcard"},
		{name: "a wildcard inside", host: "a.*.com", want: `a wildcard is allowed only as a leading "*."`},
		{name: "a double star", host: "**.x", want: `a wildcard is allowed only as a leading "*."`},
		{name: "a partial wildcard label", host: "*x.com", want: `a wildcard is allowed only as a leading "*."`},
		{name: "two wildcard labels", host: "*.*.com", want: `a wildcard is allowed only as a leading "*."`},
		{name: "a trailing dot", host: "example.com.", want: "empty label"},
		{name: "an empty label inside", host: "a..com", want: "empty label"},
		{name: "a leading dot", host: ".example.com", want: "empty label"},
		{name: "an underscore", host: "exa_mple.com", want: `label "exa_mple" has '_'`},
		{name: "a non-ASCII letter", host: "bücher.example", want: `label "bücher" has 'ü'`},
		{name: "a leading hyphen", host: "-a.com", want: "starts or ends with a hyphen"},
		{name: "a port", host: "httpbin.org:443", want: "no port here: ports are spec.ports"},
		{name: "a URL", host: "https://httpbin.org", want: "a host, not a URL"},
		{name: "a space", host: "a b.com", want: `has ' '`},
		{name: "a label of 64 characters", host: strings.Repeat("a", 64) + ".com", want: "longer than 63 characters"},
		{name: "a name of 257 characters", host: strings.Repeat("a.", 127) + "com", want: "longer than 253 characters"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := EgressHost(tt.host)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("EgressHost(%q) = %v, want nil", tt.host, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("EgressHost(%q) = %v, want an error containing %q", tt.host, err, tt.want)
			}
		})
	}
}
