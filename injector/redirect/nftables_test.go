package redirect

import (
	"net/netip"
	"os/exec"
	"strings"
	"testing"

	"github.com/google/nftables"
)

var nftTestConfig = Config{
	OutboundPortExclusions:    []int{5432, 6379},
	InboundPortExclusions:     []int{9000},
	OutboundIPRangeExclusions: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("169.254.169.254/32")},
	OutboundIPRangeInclusions: []netip.Prefix{netip.MustParsePrefix("10.96.0.0/12")},
	InterfaceExclusions:       []string{"eth1", "veth+"},
}

// TestNftablesRulesMirrorIptablesRules checks that every iptables rule has its
// nftables rule, in the same chain, in the same order, with the same verdict.
func TestNftablesRulesMirrorIptablesRules(t *testing.T) {
	for _, cfg := range []Config{{}, nftTestConfig, {OutboundIPRangeExclusions: nftTestConfig.OutboundIPRangeExclusions}} {
		var want []string
		for _, line := range strings.Split(Rules(cfg), "\n") {
			fields := strings.Fields(line)
			if len(fields) < 2 || fields[0] != "-A" {
				continue
			}
			target := fields[len(fields)-1]
			switch j := fields[len(fields)-2]; {
			case j == "--to-ports":
				target = "redirect to :" + target
			case target == "RETURN":
				target = "return"
			default:
				target = "jump " + target
			}
			want = append(want, fields[1]+": "+target)
		}
		var got []string
		for _, r := range nftRules(cfg) {
			got = append(got, r.chain+": "+r.text)
		}
		if len(got) != len(want) {
			t.Fatalf("%d nftables rules for %d iptables rules:\n%s\n%s", len(got), len(want), strings.Join(got, "\n"), Rules(cfg))
		}
		for i := range want {
			chain, verdict, _ := strings.Cut(want[i], ": ")
			if !strings.HasPrefix(got[i], chain+": ") || !strings.HasSuffix(got[i], " "+verdict) {
				t.Errorf("rule %d is %q, want it in chain and with verdict %q", i, got[i], want[i])
			}
		}
	}
}

// TestNftablesApplyReplacesTheTable applies rules over other rules and then
// twice the same: one table remains, holding exactly the last rules.
func TestNftablesApplyReplacesTheTable(t *testing.T) {
	requireNetworkNamespaces(t)
	ns := newNamespace(t, "nft")
	ns.Do(t, func() error { return ApplyNftables(Config{}) })
	ns.Do(t, func() error { return ApplyNftables(nftTestConfig) })
	ns.Do(t, func() error { return ApplyNftables(nftTestConfig) })

	wantRules := map[string]int{}
	for _, r := range nftRules(nftTestConfig) {
		wantRules[r.chain]++
	}
	ns.Do(t, func() error {
		conn, err := nftables.New()
		if err != nil {
			return err
		}
		tables, err := conn.ListTables()
		if err != nil {
			return err
		}
		if len(tables) != 1 || tables[0].Name != NftablesTable || tables[0].Family != nftables.TableFamilyIPv4 {
			t.Errorf("tables after applying three times: %+v, want ip %s only", tables, NftablesTable)
		}
		chains, err := conn.ListChainsOfTableFamily(nftables.TableFamilyIPv4)
		if err != nil {
			return err
		}
		if len(chains) != 6 {
			t.Errorf("%d chains, want 6", len(chains))
		}
		for _, chain := range chains {
			rules, err := conn.GetRules(chain.Table, chain)
			if err != nil {
				return err
			}
			if len(rules) != wantRules[chain.Name] {
				t.Errorf("chain %s has %d rules, want %d", chain.Name, len(rules), wantRules[chain.Name])
			}
		}
		return nil
	})

	// nft itself, when installed (hack/test-deps.sh), lists what NftablesRules says.
	if _, err := exec.LookPath("nft"); err != nil {
		t.Log("nft is not installed; the table is not compared with `nft list table`")
		return
	}
	out, err := exec.Command("ip", "netns", "exec", ns.name, "nft", "list", "table", "ip", NftablesTable).CombinedOutput()
	if err != nil {
		t.Fatalf("nft list table: %v: %s", err, out)
	}
	if got, want := string(out), NftablesRules(nftTestConfig); got != want {
		t.Errorf("nft list table ip %s:\n%s\nwant:\n%s", NftablesTable, got, want)
	}
}
