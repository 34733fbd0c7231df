package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"fmt"
	"hash/crc32"
	"io"
)

// SealV1 starts a legacy v1 session for devices that hold the private key
// (protocol §4.1): it reads a fresh AES key and then an IV (16 bytes each)
// from random, nil meaning crypto/rand, and encrypts the key to pub with
// RSA-OAEP using SHA-256 for both the hash and MGF1 and an empty label (Node's
// publicEncrypt with RSA_PKCS1_OAEP_PADDING and oaepHash "sha256"). random is
// also passed to rsa.EncryptOAEP for the OAEP seed.
func SealV1(pub *rsa.PublicKey, random io.Reader) (*Session, error) {
	if err := checkSize(pub); err != nil {
		return nil, fmt.Errorf("seal v1: %w", err)
	}
	if random == nil {
		random = rand.Reader
	}
	s, err := newSession(random)
	if err != nil {
		return nil, fmt.Errorf("seal v1: %w", err)
	}
	if s.wrapped, err = rsa.EncryptOAEP(sha256.New(), random, pub, s.key, nil); err != nil {
		return nil, fmt.Errorf("seal v1: %w", err)
	}
	return s, nil
}

// OpenSessionKeyV1 recovers the AES key and IV from a v1 session_key with the
// private key, as a legacy device does. A session key made for another key,
// or altered, fails with [ErrDecryption].
func OpenSessionKeyV1(priv *rsa.PrivateKey, sessionKey string) (key, iv []byte, err error) {
	iv, wrapped, err := splitSessionKey(sessionKey)
	if err != nil {
		return nil, nil, fmt.Errorf("open session key: %w", err)
	}
	key, err = rsa.DecryptOAEP(sha256.New(), nil, priv, wrapped, nil)
	if err != nil {
		// rsa.ErrDecryption on purpose says nothing more; neither do we.
		return nil, nil, fmt.Errorf("open session key: %w", ErrDecryption)
	}
	if len(key) != aesKeyLen {
		return nil, nil, fmt.Errorf("open session key: %w: recovered %d bytes, want %d", ErrDecryption, len(key), aesKeyLen)
	}
	return key, iv, nil
}

// CRC32Hex returns the v1 checksum of b, also the checksum of clear bundles
// for the oldest plugins: the IEEE CRC-32 as 8 lowercase, zero-padded hex
// characters (protocol §3).
func CRC32Hex(b []byte) string {
	return fmt.Sprintf("%08x", crc32.ChecksumIEEE(b))
}
