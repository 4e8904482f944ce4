package redirect

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestRulesGolden(t *testing.T) {
	tests := []struct {
		name   string
		golden string
		mesh   MeshDefaults
		pod    map[string]string
	}{
		{name: "a pod with no exclusions redirects all TCP", golden: "default.rules"},
		{
			name:   "mesh-wide and pod exclusions merge, sorted and without duplicates",
			golden: "exclusions.rules",
			mesh: MeshDefaults{
				OutboundPortExclusions: []int{6379}, InboundPortExclusions: []int{9000},
				OutboundIPRangeExclusions: []string{"169.254.169.254/32"}, InterfaceExclusions: []string{"eth1"},
			},
			pod: map[string]string{
				"openservicemesh.io/outbound-port-exclusion-list":     "5432, 6379",
				"openservicemesh.io/inbound-port-exclusion-list":      "9001",
				"openservicemesh.io/outbound-ip-range-exclusion-list": "10.0.0.0/8,192.168.1.7/16",
			},
		},
		{
			name:   "an inclusion list redirects only the ranges it names",
			golden: "inclusions.rules",
			pod:    map[string]string{"openservicemesh.io/outbound-ip-range-inclusion-list": "10.96.0.0/12, 10.244.0.0/16"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := ForPod(tt.mesh, tt.pod)
			if err != nil {
				t.Fatal(err)
			}
			got := Rules(cfg)
			path := filepath.Join("testdata", tt.golden)
			if *update {
				if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if got != string(want) {
				t.Errorf("rules differ from %s (rerun with -update and review the diff):\n%s", path, got)
			}
			// The flags the injector writes give the init container the same rules.
			back, err := ParseArgs(cfg.Args())
			if err != nil {
				t.Fatal(err)
			}
			if Rules(back) != got {
				t.Errorf("rules from %v differ from the pod's rules", cfg.Args())
			}
		})
	}
}

func TestForPodRejectsBadExclusions(t *testing.T) {
	tests := []struct {
		name string
		mesh MeshDefaults
		pod  map[string]string
		want string
	}{
		{name: "a port annotation that is not a number", pod: map[string]string{"openservicemesh.io/outbound-port-exclusion-list": "redis"},
			want: `annotation openservicemesh.io/outbound-port-exclusion-list: "redis" is not a port number`},
		{name: "a port out of range", pod: map[string]string{"openservicemesh.io/inbound-port-exclusion-list": "70000"},
			want: "annotation openservicemesh.io/inbound-port-exclusion-list: port 70000 is out of range 1-65535"},
		{name: "a range that is not a CIDR", pod: map[string]string{"openservicemesh.io/outbound-ip-range-exclusion-list": "10.0.0.1"},
			want: `annotation openservicemesh.io/outbound-ip-range-exclusion-list: "10.0.0.1" is not a CIDR such as 10.0.0.0/8`},
		{name: "an interface name that could smuggle an iptables option", mesh: MeshDefaults{InterfaceExclusions: []string{"eth0 -j ACCEPT"}},
			want: `MeshConfig spec.traffic.networkInterfaceExclusionList: "eth0 -j ACCEPT" is not an interface name`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ForPod(tt.mesh, tt.pod)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error = %v, want %q", err, tt.want)
			}
		})
	}
}
