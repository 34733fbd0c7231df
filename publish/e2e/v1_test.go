package e2e_test

import (
	"bytes"
	"crypto/rsa"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish/e2e"
)

func TestSealV1_RoundTrip(t *testing.T) {
	priv := newKey(t)
	s, err := e2e.SealV1(&priv.PublicKey, nil)
	require.NoError(t, err, "SealV1")
	ivPart, keyPart, _ := strings.Cut(s.SessionKey(), ":")
	assert.Len(t, ivPart, 24)
	assert.Len(t, keyPart, 344)

	key, iv, err := e2e.OpenSessionKeyV1(priv, s.SessionKey())
	require.NoError(t, err, "OpenSessionKeyV1")
	plain := pseudo(5000, 9)
	got, err := e2e.Decrypt(key, iv, s.Encrypt(plain))
	require.NoError(t, err, "Decrypt")
	assert.Equal(t, plain, got)

	seed := pseudo(32, 5)
	s, err = e2e.SealV1(&priv.PublicKey, bytes.NewReader(append(bytes.Clone(seed), pseudo(64, 6)...)))
	require.NoError(t, err, "SealV1(seeded)")
	key, iv, err = e2e.OpenSessionKeyV1(priv, s.SessionKey())
	require.NoError(t, err, "OpenSessionKeyV1(seeded)")
	assert.Equal(t, seed[:16], key, "key is the first 16 random bytes")
	assert.Equal(t, seed[16:], iv, "iv is the next 16 random bytes")
}

func TestOpenSessionKeyV1_Errors(t *testing.T) {
	priv, other := newKey(t), newKey(t)
	s, err := e2e.SealV1(&priv.PublicKey, nil)
	require.NoError(t, err)
	v2, err := e2e.SealV2(priv, nil)
	require.NoError(t, err)
	ivPart, keyPart, _ := strings.Cut(s.SessionKey(), ":")
	wrapped, _ := base64.StdEncoding.DecodeString(keyPart)
	wrapped[7] ^= 0x80

	tests := []struct {
		name       string
		priv       *rsa.PrivateKey
		sessionKey string
	}{
		{"WrongKey", other, s.SessionKey()},
		{"Tampered", priv, ivPart + ":" + base64.StdEncoding.EncodeToString(wrapped)},
		{"V2SessionKey", priv, v2.SessionKey()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := e2e.OpenSessionKeyV1(tt.priv, tt.sessionKey)
			assert.ErrorIs(t, err, e2e.ErrDecryption, "OpenSessionKeyV1(%s)", tt.name)
		})
	}
	_, _, err = e2e.OpenSessionKeyV1(priv, "no colon")
	assert.Error(t, err, "OpenSessionKeyV1(malformed)")
}

func TestCRC32Hex(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"Empty", "", "00000000"},
		{"CheckValue", "123456789", "cbf43926"}, // the CRC-32/ISO-HDLC check value
		{"LeadingZeros", "x31", "001685f0"},     // Python zlib.crc32(b"x31")
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, e2e.CRC32Hex([]byte(tt.in)), "CRC32Hex(%q)", tt.in)
		})
	}
}
