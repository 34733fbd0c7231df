package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
)

// KeyBits is the only RSA key size the plugin handles on every platform.
const KeyBits = 2048

// PEM block types. The PKCS#1 ones are what `capgo key create` writes and what
// the plugin requires in its publicKey setting.
const (
	pemRSAPrivate = "RSA PRIVATE KEY" // PKCS#1
	pemPKCS8      = "PRIVATE KEY"     // PKCS#8
	pemRSAPublic  = "RSA PUBLIC KEY"  // PKCS#1
	pemSPKI       = "PUBLIC KEY"      // X.509 SubjectPublicKeyInfo
)

// ErrKeySize is returned, wrapped, for an RSA key that is not [KeyBits] long.
var ErrKeySize = errors.New("rsa key is not 2048 bits")

// GenerateKey returns a new RSA-2048 key pair from crypto/rand, as
// `capgo key create` makes.
func GenerateKey() (*rsa.PrivateKey, error) {
	priv, err := rsa.GenerateKey(rand.Reader, KeyBits)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return priv, nil
}

// EncodePrivate returns priv as a PKCS#1 "RSA PRIVATE KEY" PEM, the format of
// the CLI's .capgo_key_v2 file.
func EncodePrivate(priv *rsa.PrivateKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemRSAPrivate, Bytes: x509.MarshalPKCS1PrivateKey(priv)})
}

// EncodePublic returns pub as a PKCS#1 "RSA PUBLIC KEY" PEM, the format of the
// CLI's .capgo_key_v2.pub file and of the plugin's publicKey setting.
func EncodePublic(pub *rsa.PublicKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: pemRSAPublic, Bytes: x509.MarshalPKCS1PublicKey(pub)})
}

// KeyID returns the plugin's key_id for pub: the first 20 characters of the
// base64 body of its PKCS#1 PEM (protocol §4.5). Since PEM lines hold 64
// characters, that is the first 20 characters of the base64 of the DER; for
// RSA-2048 it starts with "MIIBCgKCAQEA".
func KeyID(pub *rsa.PublicKey) string {
	return base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(pub))[:20]
}

// ParsePrivate parses an RSA-2048 private key from the first PEM block of
// data, which may be PKCS#1 ("RSA PRIVATE KEY", as `capgo key create` and
// `openssl genrsa -traditional` write) or PKCS#8 ("PRIVATE KEY"). CRLF line
// ends and blank or indented lines are accepted; password-protected PEMs are
// not. Turning the "\n" escapes of a JSON string into newlines is the
// caller's job.
func ParsePrivate(data []byte) (*rsa.PrivateKey, error) {
	block, err := decodePEM(data)
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	var priv *rsa.PrivateKey
	switch block.Type {
	case pemRSAPrivate:
		priv, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case pemPKCS8:
		var key any
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
		if err == nil {
			var ok bool
			if priv, ok = key.(*rsa.PrivateKey); !ok {
				err = fmt.Errorf("%T is not an rsa key", key)
			}
		}
	default:
		err = fmt.Errorf("PEM block is %q, want %q or %q", block.Type, pemRSAPrivate, pemPKCS8)
	}
	if err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	if err := checkSize(&priv.PublicKey); err != nil {
		return nil, fmt.Errorf("parse private key: %w", err)
	}
	return priv, nil
}

// ParsePublic parses an RSA-2048 public key from the first PEM block of data,
// which may be PKCS#1 ("RSA PUBLIC KEY", as `capgo key create` writes) or
// X.509 SubjectPublicKeyInfo ("PUBLIC KEY"). Whitespace is handled as by
// [ParsePrivate].
func ParsePublic(data []byte) (*rsa.PublicKey, error) {
	block, err := decodePEM(data)
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	var pub *rsa.PublicKey
	switch block.Type {
	case pemRSAPublic:
		pub, err = x509.ParsePKCS1PublicKey(block.Bytes)
	case pemSPKI:
		var key any
		key, err = x509.ParsePKIXPublicKey(block.Bytes)
		if err == nil {
			var ok bool
			if pub, ok = key.(*rsa.PublicKey); !ok {
				err = fmt.Errorf("%T is not an rsa key", key)
			}
		}
	default:
		err = fmt.Errorf("PEM block is %q, want %q or %q", block.Type, pemRSAPublic, pemSPKI)
	}
	if err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	if err := checkSize(pub); err != nil {
		return nil, fmt.Errorf("parse public key: %w", err)
	}
	return pub, nil
}

// decodePEM returns the first PEM block of data after trimming every line,
// which drops CR characters and indentation. Its errors never quote data.
func decodePEM(data []byte) (*pem.Block, error) {
	lines := bytes.Split(data, []byte("\n"))
	for i, l := range lines {
		lines[i] = bytes.TrimSpace(l)
	}
	block, _ := pem.Decode(bytes.Join(lines, []byte("\n")))
	switch {
	case block == nil:
		return nil, errors.New("no PEM block found")
	case block.Headers["Proc-Type"] != "" || block.Headers["DEK-Info"] != "":
		return nil, errors.New("password-protected PEM is not supported")
	}
	return block, nil
}

// checkSize refuses keys the plugin cannot use on every platform.
func checkSize(pub *rsa.PublicKey) error {
	if pub == nil || pub.N == nil {
		return errors.New("missing rsa key")
	}
	if n := pub.N.BitLen(); n != KeyBits {
		return fmt.Errorf("%w: it has %d bits", ErrKeySize, n)
	}
	return nil
}
