package e2e

import (
	"crypto"
	"crypto/rsa"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/big"
	"strings"
)

// ErrDecryption is returned, wrapped, when a padding check fails: the data
// was made with another key or was altered.
var ErrDecryption = errors.New("decryption failed")

// checksumLen is the length of the hex SHA-256 the Wrap functions take.
const checksumLen = 64

// SealV2 starts a v2 session: it reads a fresh AES key and then an IV (16
// bytes each) from random, nil meaning crypto/rand, and wraps the key with
// the type-1 private-key operation of priv (protocol §4.2), so that a device
// holding the public key can recover it.
func SealV2(priv *rsa.PrivateKey, random io.Reader) (*Session, error) {
	if err := checkSize(&priv.PublicKey); err != nil {
		return nil, fmt.Errorf("seal v2: %w", err)
	}
	s, err := newSession(random)
	if err != nil {
		return nil, fmt.Errorf("seal v2: %w", err)
	}
	if s.wrapped, err = privateType1(priv, s.key); err != nil {
		return nil, fmt.Errorf("seal v2: %w", err)
	}
	return s, nil
}

// OpenSessionKey recovers the AES key and IV from a v2 session_key with the
// public key the device holds. A session key made with another key, or
// altered, fails with [ErrDecryption].
func OpenSessionKey(pub *rsa.PublicKey, sessionKey string) (key, iv []byte, err error) {
	iv, wrapped, err := splitSessionKey(sessionKey)
	if err != nil {
		return nil, nil, fmt.Errorf("open session key: %w", err)
	}
	if key, err = publicRecover(pub, wrapped); err != nil {
		return nil, nil, fmt.Errorf("open session key: %w", err)
	}
	if len(key) != aesKeyLen {
		return nil, nil, fmt.Errorf("open session key: %w: recovered %d bytes, want %d", ErrDecryption, len(key), aesKeyLen)
	}
	return key, iv, nil
}

// WrapChecksumV3 wraps a SHA-256 checksum, given as 64 lowercase hex
// characters, for plugins that expect the "V3" encoding (protocol §4.4):
// the type-1 private-key operation on the 32 decoded bytes, as 512 lowercase
// hex characters. The result is deterministic.
func WrapChecksumV3(priv *rsa.PrivateKey, sha256hex string) (string, error) {
	if err := checkChecksum(sha256hex); err != nil {
		return "", fmt.Errorf("wrap checksum: %w", err)
	}
	raw, _ := hex.DecodeString(sha256hex) // checked above
	out, err := privateType1(priv, raw)
	if err != nil {
		return "", fmt.Errorf("wrap checksum: %w", err)
	}
	return hex.EncodeToString(out), nil
}

// WrapChecksumV2 wraps a SHA-256 checksum, given as 64 lowercase hex
// characters, for plugins that expect the older "V2" encoding (protocol
// §4.4): the old CLI base64-DECODED the hex string, yielding 48 bytes, put
// those through the type-1 private-key operation and base64-encoded the
// result (344 characters). Such a plugin re-encodes the recovered bytes as
// base64, which gives back the hex string. The result is deterministic.
func WrapChecksumV2(priv *rsa.PrivateKey, sha256hex string) (string, error) {
	if err := checkChecksum(sha256hex); err != nil {
		return "", fmt.Errorf("wrap checksum: %w", err)
	}
	// Every hex digit is in the base64 alphabet and 64 is a multiple of 4,
	// so this cannot fail.
	raw, _ := base64.StdEncoding.DecodeString(sha256hex)
	out, err := privateType1(priv, raw)
	if err != nil {
		return "", fmt.Errorf("wrap checksum: %w", err)
	}
	return base64.StdEncoding.EncodeToString(out), nil
}

// UnwrapChecksum recovers a wrapped checksum with the public key, as a
// plugin does. A V3 value (hex) yields the 64-character lowercase hex
// SHA-256; a V2 value (base64) yields the base64 of the 48 recovered bytes,
// which for a checksum made by [WrapChecksumV2] is again the hex SHA-256. A
// value made with another key, or altered, fails with [ErrDecryption].
func UnwrapChecksum(pub *rsa.PublicKey, enc string) (string, error) {
	if isHex(enc) {
		c, err := hex.DecodeString(enc)
		if err != nil {
			return "", fmt.Errorf("unwrap checksum: %w", err)
		}
		raw, err := recoverLen(pub, c, 32)
		if err != nil {
			return "", fmt.Errorf("unwrap checksum: %w", err)
		}
		return hex.EncodeToString(raw), nil
	}
	c, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		return "", errors.New("unwrap checksum: neither hex nor base64")
	}
	raw, err := recoverLen(pub, c, 48)
	if err != nil {
		return "", fmt.Errorf("unwrap checksum: %w", err)
	}
	return base64.StdEncoding.EncodeToString(raw), nil
}

// recoverLen is publicRecover that also requires n recovered bytes.
func recoverLen(pub *rsa.PublicKey, c []byte, n int) ([]byte, error) {
	raw, err := publicRecover(pub, c)
	if err != nil {
		return nil, err
	}
	if len(raw) != n {
		return nil, fmt.Errorf("%w: recovered %d bytes, want %d", ErrDecryption, len(raw), n)
	}
	return raw, nil
}

// privateType1 is Node's privateEncrypt with RSA_PKCS1_PADDING: the
// private-key operation on 00 01 FF..FF 00 || data (RFC 8017 §9.2 without
// the DigestInfo), exactly k bytes long. rsa.SignPKCS1v15 with hash 0 does
// exactly that, in constant time and with a check against faults, which a
// hand-written big.Int exponentiation would not.
func privateType1(priv *rsa.PrivateKey, data []byte) ([]byte, error) {
	out, err := rsa.SignPKCS1v15(nil, priv, crypto.Hash(0), data)
	if err != nil {
		return nil, fmt.Errorf("rsa private operation: %w", err)
	}
	return out, nil
}

// publicRecover is Node's publicDecrypt with RSA_PKCS1_PADDING, what the
// plugin does on the device: c^e mod n, then the strict removal of a type-1
// padding of at least 8 FF bytes. Go's crypto/rsa has no such operation.
// Only public values are involved, so big.Int's variable timing leaks
// nothing secret.
func publicRecover(pub *rsa.PublicKey, c []byte) ([]byte, error) {
	if err := checkSize(pub); err != nil {
		return nil, err
	}
	k := pub.Size()
	if len(c) != k {
		return nil, fmt.Errorf("wrapped value is %d bytes, want %d", len(c), k)
	}
	m := new(big.Int).SetBytes(c)
	if m.Cmp(pub.N) >= 0 {
		return nil, fmt.Errorf("%w: wrapped value out of range", ErrDecryption)
	}
	em := m.Exp(m, big.NewInt(int64(pub.E)), pub.N).FillBytes(make([]byte, k))
	if em[0] != 0 || em[1] != 1 {
		return nil, fmt.Errorf("%w: bad padding", ErrDecryption)
	}
	i := 2
	for i < k && em[i] == 0xff {
		i++
	}
	if i-2 < 8 || i == k || em[i] != 0 {
		return nil, fmt.Errorf("%w: bad padding", ErrDecryption)
	}
	return em[i+1:], nil
}

// checkChecksum accepts exactly 64 lowercase hex characters. Lowercase
// matters for V2: a plugin compares the re-encoded string with its own
// lowercase hex digest.
func checkChecksum(s string) error {
	if len(s) != checksumLen || !isHex(s) || strings.ToLower(s) != s {
		return errors.New("checksum must be 64 lowercase hex characters")
	}
	return nil
}

// isHex reports whether s is non-empty and made of hex digits only, the
// plugin's test for the V3 encoding.
func isHex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		switch {
		case '0' <= r && r <= '9', 'a' <= r && r <= 'f', 'A' <= r && r <= 'F':
		default:
			return false
		}
	}
	return true
}
