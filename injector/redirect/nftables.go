package redirect

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"

	"github.com/google/nftables"
	"github.com/google/nftables/binaryutil"
	"github.com/google/nftables/expr"
	"golang.org/x/sys/unix"
)

// NftablesTable is the nftables table (family ip) that holds Weft's rules. A
// table of its own leaves every other table, iptables-nft's included, alone.
// Only IPv4 is redirected, as with the iptables rules (no ip6tables rules).
const NftablesTable = "weft"

// Base chains, named after the iptables nat chains they stand for.
const (
	chainPrerouting = "PREROUTING"
	chainOutputHook = "OUTPUT"
)

// nftRule is one rule of the nftables backend: the expressions the kernel runs
// and the same rule in nft syntax, for logs and dry runs.
type nftRule struct {
	chain string
	text  string
	exprs []expr.Any
}

type nftPart struct {
	text  string
	exprs []expr.Any
}

// nftRules mirrors Rules one for one, in the same chains and order, so both
// backends redirect the same traffic.
func nftRules(c Config) []nftRule {
	var rules []nftRule
	rule := func(chain string, parts ...nftPart) {
		r := nftRule{chain: chain}
		var texts []string
		for _, p := range parts {
			texts = append(texts, p.text)
			r.exprs = append(r.exprs, p.exprs...)
		}
		r.text = strings.Join(texts, " ")
		rules = append(rules, r)
	}
	ret := verdict("return", expr.VerdictReturn, "")

	rule(chainRedirect, tcp(), redirectTo(OutboundPort))
	rule(chainInboundRedirect, tcp(), redirectTo(InboundPort))

	rule(chainPrerouting, tcp(), jump(chainInbound))
	for _, iface := range c.InterfaceExclusions {
		rule(chainInbound, ifname("iifname", expr.MetaKeyIIFNAME, iface), ret)
	}
	rule(chainInbound, dport(PrometheusPort, PrometheusPort), ret)
	rule(chainInbound, dport(FirstHealthPort, LastHealthPort), ret)
	for _, p := range c.InboundPortExclusions {
		rule(chainInbound, dport(p, p), ret)
	}
	rule(chainInbound, tcp(), jump(chainInboundRedirect))

	rule(chainOutputHook, tcp(), jump(chainOutput))
	rule(chainOutput, skuid(ProxyUID), ret)
	rule(chainOutput, daddr(netip.MustParsePrefix("127.0.0.0/8")), ret)
	for _, iface := range c.InterfaceExclusions {
		rule(chainOutput, ifname("oifname", expr.MetaKeyOIFNAME, iface), ret)
	}
	for _, p := range c.OutboundPortExclusions {
		rule(chainOutput, dport(p, p), ret)
	}
	for _, cidr := range c.OutboundIPRangeExclusions {
		rule(chainOutput, daddr(cidr), ret)
	}
	if len(c.OutboundIPRangeInclusions) == 0 {
		rule(chainOutput, jump(chainRedirect))
	} else {
		for _, cidr := range c.OutboundIPRangeInclusions {
			rule(chainOutput, daddr(cidr), jump(chainRedirect))
		}
	}
	return rules
}

func tcp() nftPart {
	return nftPart{"meta l4proto tcp", []expr.Any{
		&expr.Meta{Key: expr.MetaKeyL4PROTO, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: []byte{unix.IPPROTO_TCP}},
	}}
}

// dport matches TCP destination ports from-to, like `-p tcp --dport from:to`.
func dport(from, to int) nftPart {
	p := tcp()
	p.exprs = append(p.exprs, &expr.Payload{DestRegister: 1, Base: expr.PayloadBaseTransportHeader, Offset: 2, Len: 2})
	if from == to {
		p.text = fmt.Sprintf("tcp dport %d", from)
		p.exprs = append(p.exprs, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(from))})
	} else {
		p.text = fmt.Sprintf("tcp dport %d-%d", from, to)
		p.exprs = append(p.exprs, &expr.Range{Op: expr.CmpOpEq, Register: 1,
			FromData: binaryutil.BigEndian.PutUint16(uint16(from)), ToData: binaryutil.BigEndian.PutUint16(uint16(to))})
	}
	return p
}

// skuid matches the socket owner's UID, as iptables' owner match does.
func skuid(uid uint32) nftPart {
	return nftPart{fmt.Sprintf("meta skuid %d", uid), []expr.Any{
		&expr.Meta{Key: expr.MetaKeySKUID, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: binaryutil.NativeEndian.PutUint32(uid)},
	}}
}

// daddr matches an IPv4 destination range, like `-d prefix`.
func daddr(prefix netip.Prefix) nftPart {
	prefix = prefix.Masked()
	text := prefix.String()
	if prefix.IsSingleIP() {
		text = prefix.Addr().String() // as nft lists it
	}
	p := nftPart{text: "ip daddr " + text, exprs: []expr.Any{
		&expr.Payload{DestRegister: 1, Base: expr.PayloadBaseNetworkHeader, Offset: 16, Len: 4},
	}}
	if prefix.Bits() < 32 {
		mask := make([]byte, 4)
		binary.BigEndian.PutUint32(mask, ^uint32(0)<<(32-prefix.Bits()))
		p.exprs = append(p.exprs, &expr.Bitwise{SourceRegister: 1, DestRegister: 1, Len: 4, Mask: mask, Xor: make([]byte, 4)})
	}
	addr := prefix.Addr().As4()
	p.exprs = append(p.exprs, &expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: addr[:]})
	return p
}

// ifname matches an interface by name; a trailing "+" matches every name with
// that prefix, as in iptables (nft writes it "*").
func ifname(keyword string, key expr.MetaKey, name string) nftPart {
	data := []byte(name + "\x00")
	text := name
	if prefix, ok := strings.CutSuffix(name, "+"); ok {
		data, text = []byte(prefix), prefix+"*"
	}
	return nftPart{fmt.Sprintf("%s %q", keyword, text), []expr.Any{
		&expr.Meta{Key: key, Register: 1},
		&expr.Cmp{Op: expr.CmpOpEq, Register: 1, Data: data},
	}}
}

func redirectTo(port int) nftPart {
	return nftPart{fmt.Sprintf("redirect to :%d", port), []expr.Any{
		&expr.Immediate{Register: 1, Data: binaryutil.BigEndian.PutUint16(uint16(port))},
		&expr.Redir{RegisterProtoMin: 1},
	}}
}

func jump(chain string) nftPart { return verdict("jump "+chain, expr.VerdictJump, chain) }

func verdict(text string, kind expr.VerdictKind, chain string) nftPart {
	return nftPart{text, []expr.Any{&expr.Verdict{Kind: kind, Chain: chain}}}
}

// nftChains lists the table's chains: the two base chains hook where the
// iptables nat chains PREROUTING and OUTPUT do (priority -100, dstnat).
func nftChains(table *nftables.Table) []*nftables.Chain {
	chains := []*nftables.Chain{
		{Name: chainPrerouting, Table: table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookPrerouting, Priority: nftables.ChainPriorityNATDest},
		{Name: chainOutputHook, Table: table, Type: nftables.ChainTypeNAT, Hooknum: nftables.ChainHookOutput, Priority: nftables.ChainPriorityNATDest},
	}
	for _, name := range []string{chainInbound, chainInboundRedirect, chainOutput, chainRedirect} {
		chains = append(chains, &nftables.Chain{Name: name, Table: table})
	}
	return chains
}

// NftablesRules returns the rules ApplyNftables installs for c, in nft syntax.
func NftablesRules(c Config) string {
	var b strings.Builder
	fmt.Fprintf(&b, "table ip %s {\n", NftablesTable)
	rules := nftRules(c)
	for i, chain := range nftChains(nil) {
		if i > 0 {
			b.WriteString("\n")
		}
		fmt.Fprintf(&b, "\tchain %s {\n", chain.Name)
		// Written as `nft list table` writes them, so a test can compare.
		switch chain.Name {
		case chainPrerouting:
			b.WriteString("\t\ttype nat hook prerouting priority dstnat; policy accept;\n")
		case chainOutputHook:
			b.WriteString("\t\ttype nat hook output priority -100; policy accept;\n")
		}
		for _, r := range rules {
			if r.chain == chain.Name {
				fmt.Fprintf(&b, "\t\t%s\n", r.text)
			}
		}
		b.WriteString("\t}\n")
	}
	b.WriteString("}\n")
	return b.String()
}

// ApplyNftables installs c's rules in the current network namespace over
// netlink, with no external binary. One batch replaces Weft's table (add,
// delete, add, so a missing table is no error): the kernel applies all of it
// or none, and applying again leaves the same single table.
func ApplyNftables(c Config) error {
	conn, err := nftables.New()
	if err != nil {
		return fmt.Errorf("nftables: %w", err)
	}
	table := &nftables.Table{Family: nftables.TableFamilyIPv4, Name: NftablesTable}
	conn.AddTable(table)
	conn.DelTable(table)
	conn.AddTable(table)
	chains := map[string]*nftables.Chain{}
	for _, chain := range nftChains(table) {
		chains[chain.Name] = conn.AddChain(chain)
	}
	for _, r := range nftRules(c) {
		conn.AddRule(&nftables.Rule{Table: table, Chain: chains[r.chain], Exprs: r.exprs})
	}
	if err := conn.Flush(); err != nil {
		return fmt.Errorf("nftables: installing table ip %s: %w", NftablesTable, err)
	}
	return nil
}
