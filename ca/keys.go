package ca

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
)

// KeySpec says what private key a leaf gets: ECDSA P-256 when RSABits is 0
// (the default, fast enough for the admission path), else RSA of RSABits bits
// (MeshConfig certificate.certKeyBitSize).
type KeySpec struct {
	RSABits int
}

// String returns "ECDSA P-256" or "RSA <bits>".
func (k KeySpec) String() string {
	if k.RSABits == 0 {
		return "ECDSA P-256"
	}
	return fmt.Sprintf("RSA %d", k.RSABits)
}

// Validate accepts ECDSA and RSA of 2048, 3072 or 4096 bits.
func (k KeySpec) Validate() error {
	switch k.RSABits {
	case 0, 2048, 3072, 4096:
		return nil
	}
	return fmt.Errorf("certKeyBitSize %d: want 2048, 3072 or 4096 (or unset for ECDSA P-256)", k.RSABits)
}

// GenerateKey makes a new private key of this kind.
func (k KeySpec) GenerateKey() (crypto.Signer, error) {
	if k.RSABits == 0 {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return rsa.GenerateKey(rand.Reader, k.RSABits)
}

// EncodePrivateKeyPEM encodes a key as a PKCS#8 "PRIVATE KEY" PEM block.
func EncodePrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM reads the first private key PEM block: PKCS#8, PKCS#1
// (RSA) or SEC 1 (EC).
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("no PRIVATE KEY PEM block")
		}
		var key any
		var err error
		switch block.Type {
		case "PRIVATE KEY":
			key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		case "RSA PRIVATE KEY":
			key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
		case "EC PRIVATE KEY":
			key, err = x509.ParseECPrivateKey(block.Bytes)
		default:
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("%s PEM block: %w", block.Type, err)
		}
		signer, ok := key.(crypto.Signer)
		if !ok {
			return nil, fmt.Errorf("%s PEM block: %T cannot sign", block.Type, key)
		}
		return signer, nil
	}
}
