package main

import (
	"bytes"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish/e2e"
)

// keyNeedle is one encoding of private key material that must never reach
// a published tree or the command's output.
type keyNeedle struct {
	what string
	b    []byte
}

// keyNeedles returns every form of priv's private material we look for:
// the PKCS#1 PEM and each line of its body (so a PEM with JSON-escaped
// newlines is caught too), PKCS#1 and PKCS#8 DER and their base64, and the
// private exponent, primes and CRT values in hex (lower and upper case),
// decimal, raw big-endian bytes and base64 (standard and URL, padded and
// raw) of those bytes.
func keyNeedles(priv *rsa.PrivateKey) []keyNeedle {
	pkcs1 := x509.MarshalPKCS1PrivateKey(priv)
	pkcs8, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		panic(err)
	}
	pemText := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: pkcs1})
	n := []keyNeedle{{"PKCS#1 PEM", pemText}, {"PKCS#1 DER", pkcs1}, {"PKCS#8 DER", pkcs8}}
	for _, der := range [][]byte{pkcs1, pkcs8} {
		n = append(n, b64Needles("DER", der)...)
	}
	// PEM body lines that hold private bytes; the first lines hold only
	// the modulus and exponent, which are public.
	private := bytes.Index(pkcs1, priv.D.Bytes()) * 4 / 3 // base64 offset of D
	body := strings.Split(strings.TrimSpace(string(pemText)), "\n")
	body = body[1 : len(body)-1]
	for i, line := range body {
		if (i+1)*64 > private && len(line) >= 32 {
			n = append(n, keyNeedle{fmt.Sprintf("PEM body line %d", i+1), []byte(line)})
		}
	}
	ints := map[string]*big.Int{"D": priv.D, "P": priv.Primes[0], "Q": priv.Primes[1]}
	if pc := priv.Precomputed; pc.Dp != nil {
		ints["Dp"], ints["Dq"], ints["Qinv"] = pc.Dp, pc.Dq, pc.Qinv
	}
	for name, v := range ints {
		raw := v.Bytes()
		h := hex.EncodeToString(raw)
		n = append(n, keyNeedle{name + " hex", []byte(h)}, keyNeedle{name + " HEX", []byte(strings.ToUpper(h))},
			keyNeedle{name + " decimal", []byte(v.String())}, keyNeedle{name + " bytes", raw})
		n = append(n, b64Needles(name, raw)...)
	}
	return n
}

func b64Needles(what string, b []byte) []keyNeedle {
	var n []keyNeedle
	for _, enc := range []struct {
		name string
		e    *base64.Encoding
	}{{"base64", base64.StdEncoding}, {"base64url", base64.URLEncoding}, {"raw base64", base64.RawStdEncoding}, {"raw base64url", base64.RawURLEncoding}} {
		// Leave out the last characters, whose value depends on padding.
		s := enc.e.EncodeToString(b)
		n = append(n, keyNeedle{what + " " + enc.name, []byte(s[:len(s)-4])})
	}
	return n
}

// findKeyMaterial returns "path: what" for every file under tree (every
// file, whatever its name) that holds private material of any of privs,
// and the number of files read.
func findKeyMaterial(tree string, privs ...*rsa.PrivateKey) (hits []string, files int, err error) {
	var needles []keyNeedle
	for _, p := range privs {
		needles = append(needles, keyNeedles(p)...)
	}
	err = filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files++
		for _, n := range needles {
			if bytes.Contains(b, n.b) {
				hits = append(hits, p+": "+n.what)
			}
		}
		return nil
	})
	return hits, files, err
}

// assertNoKeyMaterial fails the test when any file under tree holds
// private material of any of privs.
func assertNoKeyMaterial(t *testing.T, tree string, privs ...*rsa.PrivateKey) {
	t.Helper()
	hits, files, err := findKeyMaterial(tree, privs...)
	require.NoError(t, err)
	require.NotZero(t, files, "nothing published under %s", tree)
	for _, h := range hits {
		t.Errorf("private key material in the tree: %s", h)
	}
}

// assertNoKeyText fails the test when out (a command's output) holds
// private material of any of privs.
func assertNoKeyText(t *testing.T, what, out string, privs ...*rsa.PrivateKey) {
	t.Helper()
	for _, p := range privs {
		for _, n := range keyNeedles(p) {
			if bytes.Contains([]byte(out), n.b) {
				t.Errorf("%s holds private key material (%s)", what, n.what)
			}
		}
	}
}

// TestKeyScan_Detects proves the scanner is not vacuous: each form of
// material, planted inside other bytes in a file of a tree, is found, and
// so is a PEM whose newlines a JSON encoder escaped; a tree holding only the
// public key and its key id is clean.
func TestKeyScan_Detects(t *testing.T) {
	t.Parallel()
	priv := encKey(t)
	for _, n := range keyNeedles(priv) {
		tree := t.TempDir()
		body := append(append([]byte(`{"x":"prefix`), n.b...), []byte(`suffix"}`)...)
		require.NoError(t, os.MkdirAll(filepath.Join(tree, "a", "b"), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(tree, "a", "b", "obj"), body, 0o644))
		hits, _, err := findKeyMaterial(tree, priv)
		require.NoError(t, err)
		require.NotEmpty(t, hits, "%s planted but not found", n.what)
	}

	tree := t.TempDir()
	escaped := strings.ReplaceAll(string(e2e.EncodePrivate(priv)), "\n", `\n`)
	require.NoError(t, os.WriteFile(filepath.Join(tree, "c.json"), []byte(`{"k":"`+escaped+`"}`), 0o644))
	hits, _, err := findKeyMaterial(tree, priv)
	require.NoError(t, err)
	require.NotEmpty(t, hits, "JSON-escaped PEM not found")

	clean := t.TempDir()
	pub := string(e2e.EncodePublic(&priv.PublicKey)) + e2e.KeyID(&priv.PublicKey) +
		base64.StdEncoding.EncodeToString(x509.MarshalPKCS1PublicKey(&priv.PublicKey)) + priv.N.Text(16)
	require.NoError(t, os.WriteFile(filepath.Join(clean, "pub"), []byte(pub), 0o644))
	hits, _, err = findKeyMaterial(clean, priv)
	require.NoError(t, err)
	require.Empty(t, hits, "the public key is not private material")
}
