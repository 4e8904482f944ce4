package internalca_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/weft-mesh/weft/ca"
	"github.com/weft-mesh/weft/ca/internalca"
)

var now = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// intermediate makes a CA signed by root, as a user bringing their own
// intermediate would have.
func intermediate(t *testing.T, root *internalca.RootSet, isCA bool) internalca.Signing {
	t.Helper()
	return makeIntermediate(t, root, isCA, now)
}

func intermediateAt(t *testing.T, root *internalca.RootSet, at time.Time) internalca.Signing {
	t.Helper()
	return makeIntermediate(t, root, true, at)
}

func makeIntermediate(t *testing.T, root *internalca.RootSet, isCA bool, now time.Time) internalca.Signing {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(7), Subject: pkix.Name{CommonName: "user intermediate"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign, BasicConstraintsValid: true, IsCA: isCA,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Signing.Cert, key.Public(), root.Signing.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return internalca.Signing{Cert: cert, Key: key}
}

func TestParseRootSet(t *testing.T) {
	root, err := internalca.NewRoot("user root", time.Hour*24*365, now)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := internalca.NewRoot("other root", time.Hour*24*365, now)
	crt, key, bundle, _ := root.Encode()
	_, otherKey, _, _ := other.Encode()
	inter := intermediate(t, root, true)
	interCrt := ca.EncodeCertificatesPEM(inter.Cert)
	interKey, _ := ca.EncodePrivateKeyPEM(inter.Key)
	notCA := intermediate(t, root, false)
	notCACrt := ca.EncodeCertificatesPEM(notCA.Cert)
	notCAKey, _ := ca.EncodePrivateKeyPEM(notCA.Key)

	tests := []struct {
		name              string
		tlsCrt, tlsKey    []byte
		caCrt             []byte
		at                time.Time
		wantErr           string
		wantTrusted       int
		wantSigningIsRoot bool
	}{
		{name: "a self-signed root needs no ca.crt", tlsCrt: crt, tlsKey: key, at: now, wantTrusted: 1, wantSigningIsRoot: true},
		{name: "a root with its own ca.crt", tlsCrt: crt, tlsKey: key, caCrt: bundle, at: now, wantTrusted: 1, wantSigningIsRoot: true},
		{name: "a user's intermediate chains to the root in ca.crt", tlsCrt: interCrt, tlsKey: interKey, caCrt: bundle, at: now, wantTrusted: 1},
		{name: "garbage in tls.crt is named", tlsCrt: []byte("not PEM"), tlsKey: key, at: now, wantErr: "tls.crt: no CERTIFICATE PEM block"},
		{name: "garbage in tls.key is named", tlsCrt: crt, tlsKey: []byte("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"), at: now, wantErr: "tls.key: PRIVATE KEY PEM block"},
		{name: "a key of another certificate is refused", tlsCrt: crt, tlsKey: otherKey, at: now, wantErr: "tls.key: the key does not belong"},
		{name: "a leaf is not a CA", tlsCrt: notCACrt, tlsKey: notCAKey, caCrt: bundle, at: now, wantErr: "tls.crt: certificate \"user intermediate\" is not a CA"},
		{name: "an expired root is refused", tlsCrt: crt, tlsKey: key, at: now.Add(2 * 365 * 24 * time.Hour), wantErr: "tls.crt: certificate \"user root\" is valid from"},
		{name: "an intermediate without its root is refused", tlsCrt: interCrt, tlsKey: interKey, at: now, wantErr: "ca.crt: tls.crt \"user intermediate\" is not self-signed"},
		{name: "an intermediate with the wrong root is refused", tlsCrt: interCrt, tlsKey: interKey, caCrt: ca.EncodeCertificatesPEM(other.Signing.Cert), at: now, wantErr: "ca.crt: signing certificate \"user intermediate\" does not chain"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set, err := internalca.ParseRootSet(tt.tlsCrt, tt.tlsKey, tt.caCrt, tt.at)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error = %v, want one containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(set.Trusted) != tt.wantTrusted {
				t.Errorf("%d trusted roots, want %d", len(set.Trusted), tt.wantTrusted)
			}
			if got := set.Signing.Cert.Equal(root.Signing.Cert); got != tt.wantSigningIsRoot {
				t.Errorf("signing with the root: %v, want %v", got, tt.wantSigningIsRoot)
			}
		})
	}
}
