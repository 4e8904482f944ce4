package ca_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/x509"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/pkg/identity"
)

var bookbuyer = identity.Identity{Namespace: "bookstore", ServiceAccount: "bookbuyer"}

func TestServiceCertificate(t *testing.T) {
	tests := []struct {
		name        string
		opts        ca.Options
		wantTD      string
		wantRSABits int
		wantLife    time.Duration
	}{
		{"defaults give a 24h ECDSA P-256 certificate in cluster.local", ca.Options{}, "cluster.local", 0, 24 * time.Hour},
		{"a configured trust domain names the certificate", ca.Options{TrustDomain: "mesh.example.com"}, "mesh.example.com", 0, 24 * time.Hour},
		{"certKeyBitSize gives an RSA key of that size", ca.Options{Settings: ca.Settings{Key: ca.KeySpec{RSABits: 2048}}}, "cluster.local", 2048, 24 * time.Hour},
		{"serviceCertValidityDuration sets the lifetime", ca.Options{Settings: ca.Settings{ServiceValidity: time.Hour}}, "cluster.local", 0, time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, tt.opts)
			c, err := f.manager.ServiceCertificate(context.Background(), bookbuyer)
			if err != nil {
				t.Fatal(err)
			}
			leaf := c.Leaf
			wantCN := "bookbuyer.bookstore." + tt.wantTD
			if leaf.Subject.CommonName != wantCN || !slices.Equal(leaf.DNSNames, []string{wantCN}) {
				t.Errorf("CN %q, DNS SANs %v; want %q for both", leaf.Subject.CommonName, leaf.DNSNames, wantCN)
			}
			if len(leaf.URIs) != 1 || leaf.URIs[0].String() != "spiffe://"+tt.wantTD+"/ns/bookstore/sa/bookbuyer" {
				t.Errorf("URI SANs %v, want the SPIFFE ID", leaf.URIs)
			}
			for _, usage := range []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth} {
				if err := verify(t, c, f.manager.Bundle(), f.clock.Now(), usage); err != nil {
					t.Errorf("x509.Verify against the bundle for usage %v: %v", usage, err)
				}
			}
			switch k := leaf.PublicKey.(type) {
			case *ecdsa.PublicKey:
				if tt.wantRSABits != 0 || k.Curve != elliptic.P256() {
					t.Errorf("key is ECDSA %s, want RSA %d", k.Curve.Params().Name, tt.wantRSABits)
				}
			case *rsa.PublicKey:
				if k.N.BitLen() != tt.wantRSABits {
					t.Errorf("key is RSA %d, want %d (0 = ECDSA P-256)", k.N.BitLen(), tt.wantRSABits)
				}
			}
			if got := c.NotAfter.Sub(f.clock.Now()); got != tt.wantLife {
				t.Errorf("valid for %s from now, want %s", got, tt.wantLife)
			}
			if key, err := ca.ParsePrivateKeyPEM(c.PrivateKeyPEM); err != nil || !key.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(leaf.PublicKey) {
				t.Errorf("PrivateKeyPEM does not hold the leaf's key: %v", err)
			}
			if c.Identity != bookbuyer || c.Kind != ca.KindService {
				t.Errorf("Identity %v Kind %q, want %v service", c.Identity, c.Kind, bookbuyer)
			}
		})
	}
}

func TestServiceCertificateIsCachedPerServiceAccount(t *testing.T) {
	f := newFixture(t, ca.Options{})
	ctx := context.Background()
	first, err := f.manager.ServiceCertificate(ctx, bookbuyer)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("asking again returns the same certificate", func(t *testing.T) {
		again, err := f.manager.ServiceCertificate(ctx, bookbuyer)
		if err != nil || again != first {
			t.Fatalf("got %v (%v), want the cached certificate", again, err)
		}
	})
	t.Run("another service account gets its own certificate", func(t *testing.T) {
		other, err := f.manager.ServiceCertificate(ctx, identity.Identity{Namespace: "bookstore", ServiceAccount: "bookthief"})
		if err != nil || other.Leaf.Subject.CommonName != "bookthief.bookstore.cluster.local" {
			t.Fatalf("got %v (%v)", other, err)
		}
	})
	t.Run("concurrent first requests issue one certificate", func(t *testing.T) {
		id := identity.Identity{Namespace: "bookstore", ServiceAccount: "bookwarehouse"}
		var wg sync.WaitGroup
		got := make([]*ca.Certificate, 16)
		for i := range got {
			wg.Go(func() { got[i], _ = f.manager.ServiceCertificate(ctx, id) })
		}
		wg.Wait()
		for _, c := range got {
			if c == nil || c != got[0] {
				t.Fatal("concurrent callers got different certificates")
			}
		}
	})
}

func TestProxyCertificate(t *testing.T) {
	f := newFixture(t, ca.Options{})
	ctx := context.Background()
	proxy := ca.Proxy{ID: "0b7d4c2e-8f0a-4a43-9d7e-5b2f3c1a9e11", Kind: ca.ProxySidecar, Identity: bookbuyer}
	pc, err := f.manager.ProxyCertificate(ctx, proxy)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := f.manager.ServiceCertificate(ctx, bookbuyer)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("it names the proxy, its kind, service account and namespace", func(t *testing.T) {
		if want := "0b7d4c2e-8f0a-4a43-9d7e-5b2f3c1a9e11.sidecar.bookbuyer.bookstore.cluster.local"; pc.Leaf.Subject.CommonName != want {
			t.Errorf("CN %q, want %q", pc.Leaf.Subject.CommonName, want)
		}
		if err := verify(t, pc, f.manager.Bundle(), f.clock.Now(), x509.ExtKeyUsageClientAuth); err != nil {
			t.Errorf("x509.Verify for client auth: %v", err)
		}
	})
	t.Run("it cannot serve as a server certificate", func(t *testing.T) {
		if err := verify(t, pc, f.manager.Bundle(), f.clock.Now(), x509.ExtKeyUsageServerAuth); err == nil {
			t.Error("a proxy certificate verified for server auth")
		}
	})
	t.Run("the xDS server reads the proxy back from a verified chain", func(t *testing.T) {
		got, err := f.manager.VerifyProxyCertificate([]*x509.Certificate{pc.Leaf})
		if err != nil || got != proxy {
			t.Fatalf("VerifyProxyCertificate = %v, %v; want %v", got, err, proxy)
		}
	})
	t.Run("a service certificate never opens an xDS stream as a proxy", func(t *testing.T) {
		if got, err := f.manager.VerifyProxyCertificate([]*x509.Certificate{sc.Leaf}); err == nil {
			t.Fatalf("service certificate parsed as proxy %v", got)
		}
	})
	t.Run("a certificate from another CA is refused", func(t *testing.T) {
		other := newFixture(t, ca.Options{})
		foreign, err := other.manager.ProxyCertificate(ctx, proxy)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.manager.VerifyProxyCertificate([]*x509.Certificate{foreign.Leaf}); err == nil {
			t.Fatal("a proxy certificate of another root was accepted")
		}
	})
	t.Run("another trust domain is refused", func(t *testing.T) {
		if _, err := ca.ParseProxyCertificate(pc.Leaf, "other.local"); err == nil {
			t.Fatal("parsed in the wrong trust domain")
		}
	})
	t.Run("one certificate per proxy, cached until forgotten", func(t *testing.T) {
		again, _ := f.manager.ProxyCertificate(ctx, proxy)
		if again != pc {
			t.Fatal("second request issued a new certificate")
		}
		f.manager.ForgetProxy(proxy)
		fresh, _ := f.manager.ProxyCertificate(ctx, proxy)
		if fresh == pc {
			t.Fatal("a forgotten proxy got its old certificate")
		}
	})
}

func TestProxyValidate(t *testing.T) {
	tests := []struct {
		name  string
		proxy ca.Proxy
	}{
		{"an ID that is not a UUID", ca.Proxy{ID: "pod-1", Kind: ca.ProxySidecar, Identity: bookbuyer}},
		{"an upper-case UUID (CNs compare exactly)", ca.Proxy{ID: "0B7D4C2E-8F0A-4A43-9D7E-5B2F3C1A9E11", Kind: ca.ProxySidecar, Identity: bookbuyer}},
		{"an unknown kind", ca.Proxy{ID: "0b7d4c2e-8f0a-4a43-9d7e-5b2f3c1a9e11", Kind: "daemon", Identity: bookbuyer}},
		{"an invalid service account", ca.Proxy{ID: "0b7d4c2e-8f0a-4a43-9d7e-5b2f3c1a9e11", Kind: ca.ProxyGRPC, Identity: identity.Identity{Namespace: "ns"}}},
	}
	f := newFixture(t, ca.Options{})
	for _, tt := range tests {
		t.Run(tt.name+" is rejected", func(t *testing.T) {
			if _, err := f.manager.ProxyCertificate(context.Background(), tt.proxy); err == nil {
				t.Fatal("no error")
			}
		})
	}
}
