package envoy_test

import (
	"bytes"
	"testing"

	adminv3 "github.com/envoyproxy/go-control-plane/envoy/admin/v3"
	tlsv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/transport_sockets/tls/v3"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/weft-mesh/weft/pkg/envoy"
)

var bookstoreBootstrap = envoy.BootstrapConfig{
	NodeID:         "0b6bcd0c-7d3e-4c43-8b51-1b2ff2a0e6a1.sidecar.bookstore.bookstore.cluster.local",
	Cluster:        "bookstore.bookstore",
	XDSHost:        "weft-controller.osm-system.svc.cluster.local",
	XDSPort:        15128,
	XDSServerName:  "weft-controller.osm-system.svc.cluster.local",
	CertChainFile:  "/etc/envoy/tls/cert.pem",
	PrivateKeyFile: "/etc/envoy/tls/key.pem",
	TrustedCAFile:  "/etc/envoy/tls/ca.pem",
}

func TestBootstrap(t *testing.T) {
	got, err := envoy.BootstrapJSON(bookstoreBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	checkGolden(t, "bootstrap", "bootstrap", got)

	// The xDS cluster reads its certificate through these files; Envoy rereads
	// them when the folder changes, so a renewed certificate needs no restart.
	files, err := envoy.BootstrapSDSFiles(bookstoreBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	for name, golden := range map[string]string{envoy.XDSClientCertSDSFile: "xds-client-cert-sds", envoy.XDSRootsSDSFile: "xds-roots-sds"} {
		checkGolden(t, "bootstrap", golden, files[name])
	}

	tests := []struct {
		name   string
		change func(*envoy.BootstrapConfig)
	}{
		{"a bootstrap needs a node id", func(c *envoy.BootstrapConfig) { c.NodeID = "" }},
		{"a bootstrap needs the control plane's port", func(c *envoy.BootstrapConfig) { c.XDSPort = 0 }},
		{"a bootstrap needs the proxy's key", func(c *envoy.BootstrapConfig) { c.PrivateKeyFile = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := bookstoreBootstrap
			tt.change(&c)
			if _, err := envoy.Bootstrap(c); err == nil {
				t.Error("Bootstrap accepted an incomplete config")
			}
		})
	}
}

func TestConfigDump(t *testing.T) {
	r := generate(t, []string{"mesh.yaml", "bookstore.yaml", "access.yaml"}, bookstore)
	b, err := envoy.Bootstrap(bookstoreBootstrap)
	if err != nil {
		t.Fatal(err)
	}
	secrets := []*tlsv3.Secret{envoy.ServiceCertSecret("service-cert:bookstore/bookstore", []byte(testCertPEM), []byte(testKeyPEM))}
	out, err := envoy.ConfigDumpJSON(r, envoy.DumpOptions{Version: "7", Bootstrap: b, Secrets: secrets})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte("KEYMATERIAL")) {
		t.Error("the config dump shows a private key")
	}
	var dump adminv3.ConfigDump
	if err := protojson.Unmarshal(out, &dump); err != nil {
		t.Fatalf("the config dump does not read back: %v", err)
	}
	var kinds []string
	for _, c := range dump.GetConfigs() {
		kinds = append(kinds, string(c.MessageName().Name()))
	}
	want := []string{"BootstrapConfigDump", "ClustersConfigDump", "EndpointsConfigDump", "ListenersConfigDump", "RoutesConfigDump", "SecretsConfigDump"}
	if len(kinds) != len(want) {
		t.Fatalf("config dump holds %v, want %v", kinds, want)
	}
	for i := range want {
		if kinds[i] != want[i] {
			t.Errorf("config %d is %s, want %s", i, kinds[i], want[i])
		}
	}
	for _, name := range []string{"inbound-listener", "outbound-listener", "rds-inbound.bookstore/bookstore|14001", "bookwarehouse/bookwarehouse|14001", "[redacted]", "root-cert-for-mtls-inbound:bookstore/bookstore"} {
		if !bytes.Contains(out, []byte(name)) {
			t.Errorf("the config dump does not mention %s", name)
		}
	}
}
