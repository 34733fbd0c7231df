package e2e

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strings"
)

// aesKeyLen is the AES-128 key length; the IV is one AES block.
const aesKeyLen = 16

// chunkLen is how much [Session.EncryptTo] encrypts per write; a multiple of
// the AES block size.
const chunkLen = 64 << 10

// Session is one bundle's AES-128-CBC key and IV together with the wrapped
// key, made by [SealV2] or [SealV1]. The plugin decrypts the zip and every
// manifest file of a bundle with the same key and IV (protocol §4.3), so a
// Session encrypts them all. That reuse is imposed by the plugin; it lets an
// observer see which files share a first block.
//
// A Session is immutable and safe for concurrent use.
type Session struct {
	key, iv []byte
	wrapped []byte
}

// newSession reads the AES key and then the IV from random (nil meaning
// crypto/rand); the caller fills wrapped.
func newSession(random io.Reader) (*Session, error) {
	if random == nil {
		random = rand.Reader
	}
	buf := make([]byte, 2*aesKeyLen)
	if _, err := io.ReadFull(random, buf); err != nil {
		return nil, fmt.Errorf("read random key: %w", err)
	}
	return &Session{key: buf[:aesKeyLen:aesKeyLen], iv: buf[aesKeyLen:]}, nil
}

// SessionKey returns the wire session_key: base64(IV) ":" base64(wrapped AES
// key), standard base64 with padding (24 and 344 characters for RSA-2048).
func (s *Session) SessionKey() string {
	return base64.StdEncoding.EncodeToString(s.iv) + ":" + base64.StdEncoding.EncodeToString(s.wrapped)
}

// Encrypt returns plain encrypted with AES-128-CBC under the session's key
// and IV, PKCS#7-padded: always 1 to 16 bytes longer than plain.
func (s *Session) Encrypt(plain []byte) []byte {
	out := make([]byte, len(plain), len(plain)+aes.BlockSize)
	copy(out, plain)
	out = appendPad(out)
	s.encrypter().CryptBlocks(out, out)
	return out
}

// EncryptTo writes to w what [Session.Encrypt] would return for all of r,
// holding at most 64 KiB in memory.
func (s *Session) EncryptTo(w io.Writer, r io.Reader) error {
	mode := s.encrypter()
	buf := make([]byte, chunkLen+aes.BlockSize)
	for {
		n, err := io.ReadFull(r, buf[:chunkLen])
		switch {
		case err == io.EOF || err == io.ErrUnexpectedEOF:
			last := appendPad(buf[:n]) // fits: buf has a spare block
			mode.CryptBlocks(last, last)
			if _, err := w.Write(last); err != nil {
				return fmt.Errorf("encrypt: %w", err)
			}
			return nil
		case err != nil:
			return fmt.Errorf("encrypt: %w", err)
		}
		mode.CryptBlocks(buf[:n], buf[:n])
		if _, err := w.Write(buf[:n]); err != nil {
			return fmt.Errorf("encrypt: %w", err)
		}
	}
}

// encrypter returns a fresh CBC encrypter; a session's key is always 16
// bytes, so aes.NewCipher cannot fail.
func (s *Session) encrypter() cipher.BlockMode {
	block, err := aes.NewCipher(s.key)
	if err != nil {
		panic("e2e: session key is not an AES-128 key")
	}
	return cipher.NewCBCEncrypter(block, s.iv)
}

// Decrypt reverses [Session.Encrypt] for a key and IV of 16 bytes each, as
// returned by [OpenSessionKey] or [OpenSessionKeyV1]. Padding that is not
// strict PKCS#7 fails with [ErrDecryption]; under CBC that usually means a
// wrong key, since a wrong IV garbles only the first block. Decrypt is meant
// for verification tools: its padding check is not constant-time, so it must
// not answer untrusted callers as a padding oracle.
func Decrypt(key, iv, ciphertext []byte) ([]byte, error) {
	if len(key) != aesKeyLen || len(iv) != aes.BlockSize {
		return nil, errors.New("decrypt: key and iv must be 16 bytes each")
	}
	if len(ciphertext) == 0 || len(ciphertext)%aes.BlockSize != 0 {
		return nil, fmt.Errorf("decrypt: ciphertext length %d is not a positive multiple of %d", len(ciphertext), aes.BlockSize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("decrypt: %w", err)
	}
	out := make([]byte, len(ciphertext))
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(out, ciphertext)
	p := int(out[len(out)-1])
	if p == 0 || p > aes.BlockSize || !bytes.Equal(out[len(out)-p:], bytes.Repeat([]byte{byte(p)}, p)) {
		return nil, fmt.Errorf("decrypt: %w: bad padding", ErrDecryption)
	}
	return out[:len(out)-p], nil
}

// appendPad appends PKCS#7 padding (RFC 5652 §6.3) to b: 1 to 16 bytes,
// each holding the padding length.
func appendPad(b []byte) []byte {
	p := aes.BlockSize - len(b)%aes.BlockSize
	for range p {
		b = append(b, byte(p))
	}
	return b
}

// splitSessionKey parses base64(IV) ":" base64(wrapped) as the plugin's
// isValidSessionKey does (two non-empty parts), plus strict base64 and a
// 16-byte IV. Its errors never quote the input.
func splitSessionKey(sessionKey string) (iv, wrapped []byte, err error) {
	ivPart, keyPart, ok := strings.Cut(sessionKey, ":")
	if !ok || ivPart == "" || keyPart == "" || strings.Contains(keyPart, ":") {
		return nil, nil, errors.New(`session key is not "iv:key"`)
	}
	enc := base64.StdEncoding.Strict()
	if iv, err = enc.DecodeString(ivPart); err != nil || len(iv) != aes.BlockSize {
		return nil, nil, errors.New("session key iv is not 16 bytes of base64")
	}
	if wrapped, err = enc.DecodeString(keyPart); err != nil {
		return nil, nil, errors.New("session key wrapped key is not base64")
	}
	return iv, wrapped, nil
}
