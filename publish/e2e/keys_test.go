package e2e_test

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish/e2e"
)

// newKey returns a fresh RSA-2048 key.
func newKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	priv, err := e2e.GenerateKey()
	require.NoError(t, err, "GenerateKey")
	return priv
}

// pemBody returns the base64 body of a PEM with the BEGIN/END lines and all
// whitespace removed, as the plugin and the CLI compute it for key_id.
func pemBody(p string) string {
	var b strings.Builder
	for line := range strings.Lines(p) {
		if strings.HasPrefix(line, "-----") {
			continue
		}
		b.WriteString(strings.Join(strings.Fields(line), ""))
	}
	return b.String()
}

func TestGenerateKey(t *testing.T) {
	priv := newKey(t)
	assert.Equal(t, 2048, priv.N.BitLen())

	privPEM, pubPEM := string(e2e.EncodePrivate(priv)), string(e2e.EncodePublic(&priv.PublicKey))
	assert.True(t, strings.HasPrefix(privPEM, "-----BEGIN RSA PRIVATE KEY-----\n"), "EncodePrivate header")
	assert.True(t, strings.HasSuffix(privPEM, "-----END RSA PRIVATE KEY-----\n"), "EncodePrivate footer")
	assert.True(t, strings.HasPrefix(pubPEM, "-----BEGIN RSA PUBLIC KEY-----\n"), "EncodePublic header")
	assert.True(t, strings.HasSuffix(pubPEM, "-----END RSA PUBLIC KEY-----\n"), "EncodePublic footer")

	back, err := e2e.ParsePrivate([]byte(privPEM))
	require.NoError(t, err, "ParsePrivate(EncodePrivate)")
	assert.True(t, priv.Equal(back), "private key round trip")
	pub, err := e2e.ParsePublic([]byte(pubPEM))
	require.NoError(t, err, "ParsePublic(EncodePublic)")
	assert.True(t, priv.PublicKey.Equal(pub), "public key round trip")
}

func TestKeyID(t *testing.T) {
	priv := newKey(t)
	id := e2e.KeyID(&priv.PublicKey)
	assert.Len(t, id, 20)
	assert.True(t, strings.HasPrefix(id, "MIIBCgKCAQEA"), "KeyID %q", id)
	assert.Equal(t, pemBody(string(e2e.EncodePublic(&priv.PublicKey)))[:20], id)
	assert.NotEqual(t, id, e2e.KeyID(&newKey(t).PublicKey), "two keys, one id")
}

func TestParsePrivate(t *testing.T) {
	priv := newKey(t)
	pkcs1 := string(e2e.EncodePrivate(priv))
	der8, err := x509.MarshalPKCS8PrivateKey(priv)
	require.NoError(t, err)
	pkcs8 := string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der8}))

	tests := []struct {
		name string
		in   string
	}{
		{"PKCS1", pkcs1},
		{"PKCS8", pkcs8},
		{"CRLF", strings.ReplaceAll(pkcs1, "\n", "\r\n")},
		{"Indented", "\n\n  " + strings.ReplaceAll(pkcs1, "\n", "\n\t  ") + "  \n"},
		{"NoFinalNewline", strings.TrimSuffix(pkcs8, "\n")},
		{"TextAround", "my key:\n" + pkcs1 + "that was it\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e2e.ParsePrivate([]byte(tt.in))
			require.NoError(t, err, "ParsePrivate(%s)", tt.name)
			assert.True(t, priv.Equal(got), "ParsePrivate(%s) returned another key", tt.name)
		})
	}
}

func TestParsePublic(t *testing.T) {
	priv := newKey(t)
	pkcs1 := string(e2e.EncodePublic(&priv.PublicKey))
	spkiDER, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	require.NoError(t, err)
	spki := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spkiDER}))

	tests := []struct {
		name string
		in   string
	}{
		{"PKCS1", pkcs1},
		{"SPKI", spki},
		{"CRLF", strings.ReplaceAll(pkcs1, "\n", "\r\n")},
		{"Indented", "   " + strings.ReplaceAll(spki, "\n", "\n    ")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := e2e.ParsePublic([]byte(tt.in))
			require.NoError(t, err, "ParsePublic(%s)", tt.name)
			assert.True(t, priv.PublicKey.Equal(got), "ParsePublic(%s) returned another key", tt.name)
		})
	}
}

// TestParse_Errors checks that bad input is refused and that no error quotes
// the key material it was given.
func TestParse_Errors(t *testing.T) {
	priv := newKey(t)
	privPEM := string(e2e.EncodePrivate(priv))
	pubPEM := string(e2e.EncodePublic(&priv.PublicKey))
	small, err := rsa.GenerateKey(nil, 1024) // the reader is ignored since Go 1.26
	require.NoError(t, err)
	// Valid base64 and a plausible start, but the DER is cut short.
	truncated := func(p string) string {
		lines := strings.Split(p, "\n")
		return strings.Join(append(lines[:3], lines[len(lines)-2:]...), "\n")
	}
	encrypted := strings.Replace(privPEM, "KEY-----\n", "KEY-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00112233445566778899AABBCCDDEEFF\n\n", 1)

	tests := []struct {
		name    string
		parse   func([]byte) error
		in      string
		sizeErr bool
	}{
		{"Private/Empty", parsePriv, "", false},
		{"Private/NotPEM", parsePriv, pemBody(privPEM), false},
		{"Private/GivenPublic", parsePriv, pubPEM, false},
		{"Private/Truncated", parsePriv, truncated(privPEM), false},
		{"Private/Encrypted", parsePriv, encrypted, false},
		{"Private/1024", parsePriv, string(e2e.EncodePrivate(small)), true},
		{"Public/Empty", parsePub, "", false},
		{"Public/GivenPrivate", parsePub, privPEM, false},
		{"Public/Truncated", parsePub, truncated(pubPEM), false},
		{"Public/1024", parsePub, string(e2e.EncodePublic(&small.PublicKey)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.parse([]byte(tt.in))
			require.Error(t, err, "parse(%s)", tt.name)
			assert.Equal(t, tt.sizeErr, errors.Is(err, e2e.ErrKeySize), "errors.Is(ErrKeySize): %v", err)
			assertNoKeyMaterial(t, err.Error(), tt.in)
		})
	}
}

func parsePriv(b []byte) error { _, err := e2e.ParsePrivate(b); return err }
func parsePub(b []byte) error  { _, err := e2e.ParsePublic(b); return err }

// assertNoKeyMaterial fails if msg contains any 12-character run of the
// base64 body of the PEM in.
func assertNoKeyMaterial(t *testing.T, msg, in string) {
	t.Helper()
	body := pemBody(in)
	for i := 0; i+12 <= len(body); i++ {
		if strings.Contains(msg, body[i:i+12]) {
			t.Errorf("error %q quotes key material", msg)
			return
		}
	}
}
