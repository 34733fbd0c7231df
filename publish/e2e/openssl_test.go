package e2e_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish/e2e"
)

// The tests in this file use the openssl command line tool as an independent
// implementation of the primitives of protocol §4 and §9.

// wrappedPart returns the decoded second half of a session key.
func wrappedPart(t *testing.T, sessionKey string) []byte {
	t.Helper()
	_, keyPart, ok := strings.Cut(sessionKey, ":")
	require.True(t, ok)
	b, err := base64.StdEncoding.DecodeString(keyPart)
	require.NoError(t, err)
	return b
}

// TestOpenSSL_V2 proves that openssl recovers our v2 AES key with the public
// key (type-1 padding), decrypts our ciphertext, and encrypts to the very
// same bytes.
func TestOpenSSL_V2(t *testing.T) {
	openssl := opensslPath(t)
	priv := newKey(t)
	dir := t.TempDir()
	o := peer{dir: dir}
	writeFile(t, dir, "pub.pkcs1.pem", e2e.EncodePublic(&priv.PublicKey))
	o.run(t, false, openssl, "rsa", "-RSAPublicKey_in", "-in", "pub.pkcs1.pem", "-pubout", "-out", "pub.pem")

	s, err := e2e.SealV2(priv, nil)
	require.NoError(t, err, "SealV2")
	writeFile(t, dir, "wrapped.bin", wrappedPart(t, s.SessionKey()))
	o.run(t, false, openssl, "pkeyutl", "-verifyrecover", "-pubin", "-inkey", "pub.pem",
		"-pkeyopt", "rsa_padding_mode:pkcs1", "-in", "wrapped.bin", "-out", "key.bin")
	key := readFile(t, dir, "key.bin")
	require.Len(t, key, 16, "key recovered by openssl")
	ivB64, _, _ := strings.Cut(s.SessionKey(), ":")
	iv, err := base64.StdEncoding.DecodeString(ivB64)
	require.NoError(t, err)

	plain := pseudo(100_003, 11)
	writeFile(t, dir, "plain.bin", plain)
	writeFile(t, dir, "ours.bin", s.Encrypt(plain))
	aes := []string{"-aes-128-cbc", "-K", hex.EncodeToString(key), "-iv", hex.EncodeToString(iv)}
	o.run(t, false, openssl, append(append([]string{"enc", "-d"}, aes...), "-in", "ours.bin", "-out", "back.bin")...)
	assert.Equal(t, plain, readFile(t, dir, "back.bin"), "openssl enc -d of our ciphertext")

	o.run(t, false, openssl, append(append([]string{"enc"}, aes...), "-in", "plain.bin", "-out", "theirs.bin")...)
	assert.Equal(t, s.Encrypt(plain), readFile(t, dir, "theirs.bin"), "openssl enc of the plaintext")
}

// TestOpenSSL_Checksum proves that openssl recovers the digest from our V3
// checksum and the 48 base64-decoded bytes from our V2 checksum, and that its
// own type-1 private operation gives our V3 checksum byte for byte.
func TestOpenSSL_Checksum(t *testing.T) {
	openssl := opensslPath(t)
	priv := newKey(t)
	dir := t.TempDir()
	o := peer{dir: dir}
	writeFile(t, dir, "priv.pem", e2e.EncodePrivate(priv))
	writeFile(t, dir, "pub.pkcs1.pem", e2e.EncodePublic(&priv.PublicKey))
	o.run(t, false, openssl, "rsa", "-RSAPublicKey_in", "-in", "pub.pkcs1.pem", "-pubout", "-out", "pub.pem")
	recoverArgs := []string{"pkeyutl", "-verifyrecover", "-pubin", "-inkey", "pub.pem", "-pkeyopt", "rsa_padding_mode:pkcs1"}

	sum := sha256.Sum256([]byte("the zip"))
	hexSum := hex.EncodeToString(sum[:])
	v3, err := e2e.WrapChecksumV3(priv, hexSum)
	require.NoError(t, err)
	c3, err := hex.DecodeString(v3)
	require.NoError(t, err)
	writeFile(t, dir, "v3.bin", c3)
	o.run(t, false, openssl, append(recoverArgs, "-in", "v3.bin", "-out", "v3.out")...)
	assert.Equal(t, sum[:], readFile(t, dir, "v3.out"), "openssl recovery of V3")

	v2, err := e2e.WrapChecksumV2(priv, hexSum)
	require.NoError(t, err)
	c2, err := base64.StdEncoding.DecodeString(v2)
	require.NoError(t, err)
	writeFile(t, dir, "v2.bin", c2)
	o.run(t, false, openssl, append(recoverArgs, "-in", "v2.bin", "-out", "v2.out")...)
	assert.Equal(t, hexSum, base64.StdEncoding.EncodeToString(readFile(t, dir, "v2.out")), "openssl recovery of V2, base64-encoded")

	writeFile(t, dir, "sum.bin", sum[:])
	o.run(t, false, openssl, "pkeyutl", "-sign", "-inkey", "priv.pem", "-pkeyopt", "rsa_padding_mode:pkcs1",
		"-in", "sum.bin", "-out", "sig.bin")
	sig := readFile(t, dir, "sig.bin")
	assert.Equal(t, v3, hex.EncodeToString(sig), "openssl type-1 signature == WrapChecksumV3")
	got, err := e2e.UnwrapChecksum(&priv.PublicKey, hex.EncodeToString(sig))
	require.NoError(t, err, "UnwrapChecksum(openssl)")
	assert.Equal(t, hexSum, got)
}

// TestOpenSSL_V1 proves that openssl unwraps our v1 key with RSA-OAEP
// SHA-256/MGF1-SHA-256, that we unwrap openssl's, and that OAEP with the
// default SHA-1 is refused.
func TestOpenSSL_V1(t *testing.T) {
	openssl := opensslPath(t)
	priv := newKey(t)
	dir := t.TempDir()
	o := peer{dir: dir}
	writeFile(t, dir, "priv.pem", e2e.EncodePrivate(priv))
	oaep := []string{"-pkeyopt", "rsa_padding_mode:oaep", "-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256"}

	s, err := e2e.SealV1(&priv.PublicKey, nil)
	require.NoError(t, err, "SealV1")
	writeFile(t, dir, "wrapped.bin", wrappedPart(t, s.SessionKey()))
	o.run(t, false, openssl, append(append([]string{"pkeyutl", "-decrypt", "-inkey", "priv.pem"}, oaep...),
		"-in", "wrapped.bin", "-out", "key.bin")...)
	key := readFile(t, dir, "key.bin")
	require.Len(t, key, 16, "key unwrapped by openssl")
	ivB64, _, _ := strings.Cut(s.SessionKey(), ":")
	iv, _ := base64.StdEncoding.DecodeString(ivB64)
	plain := pseudo(4321, 12)
	writeFile(t, dir, "ours.bin", s.Encrypt(plain))
	o.run(t, false, openssl, "enc", "-d", "-aes-128-cbc", "-K", hex.EncodeToString(key), "-iv", hex.EncodeToString(iv),
		"-in", "ours.bin", "-out", "back.bin")
	assert.Equal(t, plain, readFile(t, dir, "back.bin"), "openssl enc -d of our v1 ciphertext")

	theirKey := pseudo(16, 13)
	writeFile(t, dir, "their.key", theirKey)
	o.run(t, false, openssl, append(append([]string{"pkeyutl", "-encrypt", "-inkey", "priv.pem"}, oaep...),
		"-in", "their.key", "-out", "their.bin")...)
	got, gotIV, err := e2e.OpenSessionKeyV1(priv, ivB64+":"+base64.StdEncoding.EncodeToString(readFile(t, dir, "their.bin")))
	require.NoError(t, err, "OpenSessionKeyV1(openssl OAEP-SHA256)")
	assert.Equal(t, theirKey, got)
	assert.Equal(t, iv, gotIV)

	o.run(t, false, openssl, "pkeyutl", "-encrypt", "-inkey", "priv.pem", "-pkeyopt", "rsa_padding_mode:oaep",
		"-in", "their.key", "-out", "sha1.bin")
	_, _, err = e2e.OpenSessionKeyV1(priv, ivB64+":"+base64.StdEncoding.EncodeToString(readFile(t, dir, "sha1.bin")))
	assert.ErrorIs(t, err, e2e.ErrDecryption, "OpenSessionKeyV1(openssl OAEP-SHA1)")
}

// TestOpenSSL_KeyFormats proves that keys openssl writes parse, that our PEMs
// are byte-identical to openssl's PKCS#1 ones, and that openssl accepts ours.
func TestOpenSSL_KeyFormats(t *testing.T) {
	openssl := opensslPath(t)
	dir := t.TempDir()
	o := peer{dir: dir}
	o.run(t, false, openssl, "genrsa", "-traditional", "-out", "trad.pem", "2048")
	o.run(t, false, openssl, "pkcs8", "-topk8", "-nocrypt", "-in", "trad.pem", "-out", "pkcs8.pem")
	o.run(t, false, openssl, "rsa", "-in", "trad.pem", "-RSAPublicKey_out", "-out", "pub.pkcs1.pem")
	o.run(t, false, openssl, "rsa", "-in", "trad.pem", "-pubout", "-out", "pub.spki.pem")

	trad := readFile(t, dir, "trad.pem")
	require.True(t, strings.HasPrefix(string(trad), "-----BEGIN RSA PRIVATE KEY-----"), "genrsa -traditional writes PKCS#1")
	priv, err := e2e.ParsePrivate(trad)
	require.NoError(t, err, "ParsePrivate(genrsa -traditional)")
	assert.Equal(t, string(trad), string(e2e.EncodePrivate(priv)), "EncodePrivate == openssl PKCS#1")

	p8, err := e2e.ParsePrivate(readFile(t, dir, "pkcs8.pem"))
	require.NoError(t, err, "ParsePrivate(PKCS#8)")
	assert.True(t, priv.Equal(p8), "PKCS#8 is the same key")

	pub1 := readFile(t, dir, "pub.pkcs1.pem")
	pub, err := e2e.ParsePublic(pub1)
	require.NoError(t, err, "ParsePublic(-RSAPublicKey_out)")
	assert.True(t, priv.PublicKey.Equal(pub))
	assert.Equal(t, string(pub1), string(e2e.EncodePublic(pub)), "EncodePublic == openssl PKCS#1")
	spki, err := e2e.ParsePublic(readFile(t, dir, "pub.spki.pem"))
	require.NoError(t, err, "ParsePublic(-pubout)")
	assert.True(t, priv.PublicKey.Equal(spki))

	writeFile(t, dir, "ours.pem", e2e.EncodePrivate(newKey(t)))
	stdout, _ := o.run(t, false, openssl, "rsa", "-in", "ours.pem", "-check", "-noout")
	assert.Contains(t, stdout, "RSA key ok")
}
