package envoy

import (
	"fmt"
	"net/netip"
	"strings"

	listenerv3 "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
)

// chainSet gathers a listener's filter chains. Envoy rejects a listener with
// two chains of the same match, or two of the same name, so each chain claims
// its match (per destination prefix, when it has some) and a later chain only
// keeps what is still free.
type chainSet struct {
	chains []*listenerv3.FilterChain
	taken  map[string]bool
	names  map[string]bool
}

func newChainSet() *chainSet {
	return &chainSet{taken: map[string]bool{}, names: map[string]bool{}}
}

// claim takes a match key; false when an earlier chain has it.
func (s *chainSet) claim(key string) bool {
	if s.taken[key] {
		return false
	}
	s.taken[key] = true
	return true
}

// claimAll takes every key, or none when one is taken.
func (s *chainSet) claimAll(keys []string) bool {
	for _, k := range keys {
		if s.taken[k] {
			return false
		}
	}
	for _, k := range keys {
		s.taken[k] = true
	}
	return true
}

// claimPrefixes takes the destination prefixes still free under key.
func (s *chainSet) claimPrefixes(key string, prefixes []netip.Prefix) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range prefixes {
		if s.claim(key + "|dst=" + p.String()) {
			out = append(out, p)
		}
	}
	return out
}

// add appends fc, renaming it if its name is taken.
func (s *chainSet) add(fc *listenerv3.FilterChain) {
	name := fc.Name
	for i := 2; s.names[name]; i++ {
		name = fmt.Sprintf("%s#%d", fc.Name, i)
	}
	fc.Name = name
	s.names[name] = true
	s.chains = append(s.chains, fc)
}

// matchKey identifies a match without its destination prefixes.
func matchKey(port uint32, serverNames []string, transport string, sources []netip.Prefix) string {
	src := make([]string, len(sources))
	for i, p := range sources {
		src[i] = p.String()
	}
	return fmt.Sprintf("port=%d|sni=%s|transport=%s|src=%s", port, strings.Join(serverNames, ","), transport, strings.Join(src, ","))
}

func prefixesOf(ips []string) []netip.Prefix {
	var out []netip.Prefix
	for _, ip := range ips {
		if a, err := netip.ParseAddr(ip); err == nil && a.Zone() == "" {
			a = a.Unmap()
			out = append(out, netip.PrefixFrom(a, a.BitLen()))
		}
	}
	return out
}
