package e2e_test

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"math/rand/v2"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish/e2e"
)

// sizes returns plaintext lengths around the AES block and the 64 KiB chunk
// of EncryptTo.
func sizes() []int {
	return []int{0, 1, 15, 16, 17, 1000, 64<<10 - 1, 64 << 10, 64<<10 + 1, 3 * 64 << 10}
}

// pseudo returns n deterministic pseudo-random bytes.
func pseudo(n int, seed uint64) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(seed, seed))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

func TestSealV2_RoundTrip(t *testing.T) {
	priv := newKey(t)
	s, err := e2e.SealV2(priv, nil)
	require.NoError(t, err, "SealV2")

	ivPart, keyPart, ok := strings.Cut(s.SessionKey(), ":")
	require.True(t, ok, "SessionKey has a colon")
	assert.Len(t, ivPart, 24)
	assert.Len(t, keyPart, 344)

	key, iv, err := e2e.OpenSessionKey(&priv.PublicKey, s.SessionKey())
	require.NoError(t, err, "OpenSessionKey")
	assert.Equal(t, ivPart, base64.StdEncoding.EncodeToString(iv))
	assert.Len(t, key, 16)

	for _, n := range sizes() {
		plain := pseudo(n, uint64(n))
		ct := s.Encrypt(plain)
		assert.Equal(t, (n/16+1)*16, len(ct), "len(Encrypt(%d bytes))", n)
		got, err := e2e.Decrypt(key, iv, ct)
		require.NoError(t, err, "Decrypt(%d bytes)", n)
		assert.Equal(t, plain, got, "Decrypt(Encrypt(%d bytes))", n)
	}
}

func TestSealV2_Random(t *testing.T) {
	priv := newKey(t)
	seed := pseudo(32, 7)
	s, err := e2e.SealV2(priv, bytes.NewReader(seed))
	require.NoError(t, err, "SealV2")
	key, iv, err := e2e.OpenSessionKey(&priv.PublicKey, s.SessionKey())
	require.NoError(t, err, "OpenSessionKey")
	assert.Equal(t, seed[:16], key, "key is the first 16 random bytes")
	assert.Equal(t, seed[16:], iv, "iv is the next 16 random bytes")

	again, err := e2e.SealV2(priv, bytes.NewReader(seed))
	require.NoError(t, err)
	assert.Equal(t, s.SessionKey(), again.SessionKey(), "type-1 wrapping is deterministic")

	_, err = e2e.SealV2(priv, bytes.NewReader(seed[:31]))
	assert.Error(t, err, "SealV2 with 31 random bytes")
	_, err = e2e.SealV2(priv, iotest.ErrReader(assert.AnError))
	assert.ErrorIs(t, err, assert.AnError)
}

func TestSession_EncryptTo(t *testing.T) {
	s, err := e2e.SealV2(newKey(t), nil)
	require.NoError(t, err)
	for _, n := range sizes() {
		plain := pseudo(n, 1)
		var buf bytes.Buffer
		// OneByteReader exercises short reads inside a chunk.
		require.NoError(t, s.EncryptTo(&buf, iotest.OneByteReader(bytes.NewReader(plain))), "EncryptTo(%d bytes)", n)
		assert.Equal(t, s.Encrypt(plain), buf.Bytes(), "EncryptTo(%d bytes) == Encrypt", n)
	}
	err = s.EncryptTo(&bytes.Buffer{}, iotest.ErrReader(assert.AnError))
	assert.ErrorIs(t, err, assert.AnError)
}

func TestSession_EncryptLeavesInput(t *testing.T) {
	s, err := e2e.SealV2(newKey(t), nil)
	require.NoError(t, err)
	backing := []byte("0123456789abcdefXXXXXXXXXXXXXXXXXXXX")
	plain := backing[:20] // spare capacity must not be written
	want := bytes.Clone(backing)
	s.Encrypt(plain)
	assert.Equal(t, want, backing)
}

// rawPrivate applies the private key to em without any padding (m^d mod n),
// so tests can wrap deliberately malformed paddings.
func rawPrivate(priv *rsa.PrivateKey, em []byte) []byte {
	m := new(big.Int).SetBytes(em)
	return m.Exp(m, priv.D, priv.N).FillBytes(make([]byte, priv.Size()))
}

// type1 builds 00 01 FF*ps 00 data, or with another block type.
func type1(blockType byte, ps int, sep byte, data []byte) []byte {
	em := append([]byte{0, blockType}, bytes.Repeat([]byte{0xff}, ps)...)
	return append(append(em, sep), data...)
}

func TestOpenSessionKey_Errors(t *testing.T) {
	priv, other := newKey(t), newKey(t)
	s, err := e2e.SealV2(priv, nil)
	require.NoError(t, err)
	good := s.SessionKey()
	ivPart, keyPart, _ := strings.Cut(good, ":")
	wrapped, _ := base64.StdEncoding.DecodeString(keyPart)
	with := func(w []byte) string { return ivPart + ":" + base64.StdEncoding.EncodeToString(w) }
	flipped := bytes.Clone(wrapped)
	flipped[100] ^= 1
	key := pseudo(16, 3)

	tests := []struct {
		name       string
		pub        *rsa.PublicKey
		sessionKey string
		decryption bool // want ErrDecryption
	}{
		{"WrongKey", &other.PublicKey, good, true},
		{"FlippedBit", &priv.PublicKey, with(flipped), true},
		{"Type2Padding", &priv.PublicKey, with(rawPrivate(priv, type1(2, 237, 0, key))), true},
		{"ShortFF", &priv.PublicKey, with(rawPrivate(priv, append(type1(1, 7, 0, key), make([]byte, 246-16)...))), true},
		{"NoSeparator", &priv.PublicKey, with(rawPrivate(priv, type1(1, 237, 0xff, key))), true},
		{"Key17Bytes", &priv.PublicKey, with(rawPrivate(priv, type1(1, 236, 0, pseudo(17, 1)))), true},
		{"OutOfRange", &priv.PublicKey, with(bytes.Repeat([]byte{0xff}, 256)), true},
		{"Empty", &priv.PublicKey, "", false},
		{"NoColon", &priv.PublicKey, ivPart + keyPart, false},
		{"ThreeParts", &priv.PublicKey, good + ":" + ivPart, false},
		{"EmptyIV", &priv.PublicKey, ":" + keyPart, false},
		{"ShortIV", &priv.PublicKey, "AAAA:" + keyPart, false},
		{"BadBase64", &priv.PublicKey, ivPart + ":" + keyPart[:100] + "!" + keyPart[101:], false},
		{"ShortWrapped", &priv.PublicKey, with(wrapped[1:]), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e2e.OpenSessionKey(tt.pub, tt.sessionKey)
			require.Error(t, err, "OpenSessionKey(%s)", tt.name)
			if tt.decryption {
				assert.ErrorIs(t, err, e2e.ErrDecryption)
			}
		})
	}

	// The control: the same construction with a correct padding opens.
	got, _, err := e2e.OpenSessionKey(&priv.PublicKey, with(rawPrivate(priv, type1(1, 237, 0, key))))
	require.NoError(t, err, "OpenSessionKey(hand-made type 1)")
	assert.Equal(t, key, got)
}

func TestWrapChecksum(t *testing.T) {
	priv := newKey(t)
	sum := sha256.Sum256([]byte("bundle"))
	hexSum := hex.EncodeToString(sum[:])

	v3, err := e2e.WrapChecksumV3(priv, hexSum)
	require.NoError(t, err, "WrapChecksumV3")
	assert.Len(t, v3, 512)
	assert.Equal(t, strings.ToLower(v3), v3, "V3 is lowercase hex")
	v2, err := e2e.WrapChecksumV2(priv, hexSum)
	require.NoError(t, err, "WrapChecksumV2")
	assert.Len(t, v2, 344)

	for name, enc := range map[string]string{"V3": v3, "V2": v2, "V3Upper": strings.ToUpper(v3)} {
		got, err := e2e.UnwrapChecksum(&priv.PublicKey, enc)
		require.NoError(t, err, "UnwrapChecksum(%s)", name)
		assert.Equal(t, hexSum, got, "UnwrapChecksum(%s)", name)
	}

	// V2 wraps the hex string base64-DECODED: 48 bytes, not the 32 of the digest.
	c, _ := base64.StdEncoding.DecodeString(v2)
	em := new(big.Int).Exp(new(big.Int).SetBytes(c), big.NewInt(int64(priv.E)), priv.N).FillBytes(make([]byte, 256))
	raw48, _ := base64.StdEncoding.DecodeString(hexSum)
	assert.Equal(t, raw48, em[256-48:], "V2 payload")
}

func TestWrapChecksum_Errors(t *testing.T) {
	priv, other := newKey(t), newKey(t)
	good := strings.Repeat("ab", 32)
	for _, in := range []string{"", good[:63], good + "00", strings.ToUpper(good), strings.Repeat("g", 64), "cbf43926"} {
		_, err := e2e.WrapChecksumV3(priv, in)
		assert.Error(t, err, "WrapChecksumV3(%q)", in)
		_, err = e2e.WrapChecksumV2(priv, in)
		assert.Error(t, err, "WrapChecksumV2(%q)", in)
	}

	v3, err := e2e.WrapChecksumV3(priv, good)
	require.NoError(t, err)
	v2, err := e2e.WrapChecksumV2(priv, good)
	require.NoError(t, err)
	tampered := []byte(v3)
	if tampered[300] == '0' { // another hex digit, so it still parses as V3
		tampered[300] = '1'
	} else {
		tampered[300] = '0'
	}
	tests := []struct {
		name, enc  string
		decryption bool
	}{
		{"V3WrongKey", v3, true},
		{"V2WrongKey", v2, true},
		{"Empty", "", false},
		{"ShortHex", v3[:510], false},
		{"NotBase64", "not base64!", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e2e.UnwrapChecksum(&other.PublicKey, tt.enc)
			require.Error(t, err, "UnwrapChecksum(%s)", tt.name)
			if tt.decryption {
				assert.ErrorIs(t, err, e2e.ErrDecryption)
			}
		})
	}
	_, err = e2e.UnwrapChecksum(&priv.PublicKey, string(tampered))
	assert.ErrorIs(t, err, e2e.ErrDecryption, "UnwrapChecksum(tampered V3)")
	// A session key's wrapped AES key is 16 bytes, not a checksum.
	s, err := e2e.SealV2(priv, nil)
	require.NoError(t, err)
	_, keyPart, _ := strings.Cut(s.SessionKey(), ":")
	_, err = e2e.UnwrapChecksum(&priv.PublicKey, keyPart)
	assert.ErrorIs(t, err, e2e.ErrDecryption, "UnwrapChecksum(wrapped AES key)")
}

// cbcRaw encrypts whole blocks without padding, to forge bad paddings.
func cbcRaw(t *testing.T, key, iv, plain []byte) []byte {
	t.Helper()
	block, err := aes.NewCipher(key)
	require.NoError(t, err)
	out := make([]byte, len(plain))
	cipher.NewCBCEncrypter(block, iv).CryptBlocks(out, plain)
	return out
}

func TestDecrypt_Errors(t *testing.T) {
	key, iv := pseudo(16, 1), pseudo(16, 2)
	body := pseudo(13, 3)
	got, err := e2e.Decrypt(key, iv, cbcRaw(t, key, iv, append(bytes.Clone(body), 3, 3, 3)))
	require.NoError(t, err, "Decrypt(hand-made padding)")
	assert.Equal(t, body, got, "the control case")

	tests := []struct {
		name       string
		key, iv    []byte
		ct         []byte
		decryption bool
	}{
		{"PadZero", key, iv, cbcRaw(t, key, iv, append(bytes.Clone(body), 3, 3, 0)), true},
		{"Pad17", key, iv, cbcRaw(t, key, iv, append(pseudo(15, 4), 17)), true},
		{"PadMixed", key, iv, cbcRaw(t, key, iv, append(bytes.Clone(body), 2, 3, 3)), true},
		{"Empty", key, iv, nil, false},
		{"NotBlocks", key, iv, make([]byte, 17), false},
		{"ShortKey", key[:15], iv, make([]byte, 16), false},
		{"AES256Key", append(bytes.Clone(key), key...), iv, make([]byte, 16), false},
		{"ShortIV", key, iv[:8], make([]byte, 16), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e2e.Decrypt(tt.key, tt.iv, tt.ct)
			require.Error(t, err, "Decrypt(%s)", tt.name)
			if tt.decryption {
				assert.ErrorIs(t, err, e2e.ErrDecryption)
			}
		})
	}
}
