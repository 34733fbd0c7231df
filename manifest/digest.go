package manifest

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
)

// DigestSize is the length of a [Digest] in bytes.
const DigestSize = sha256.Size

// ErrDigestMismatch is returned when content does not hash to the digest a
// record promised for it.
var ErrDigestMismatch = errors.New("digest mismatch")

// ErrSizeMismatch is returned when content does not have the length a record
// promised for it.
var ErrSizeMismatch = errors.New("size mismatch")

// Digest is a SHA-256 content address. Its text form is 64 lowercase hex
// characters, the form used in object names and JSON.
type Digest [DigestSize]byte

// Sum returns the digest of b.
func Sum(b []byte) Digest { return sha256.Sum256(b) }

// ParseDigest parses 64 hex characters (either case) into a [Digest].
func ParseDigest(s string) (Digest, error) {
	var d Digest
	if len(s) != 2*DigestSize {
		return d, fmt.Errorf("parse digest %q: want %d hex characters", s, 2*DigestSize)
	}
	if _, err := hex.Decode(d[:], []byte(s)); err != nil {
		return d, fmt.Errorf("parse digest %q: %w", s, err)
	}
	return d, nil
}

// String returns the lowercase hex form of d.
func (d Digest) String() string { return hex.EncodeToString(d[:]) }

// Short returns the first 12 hex characters of d, for humans.
func (d Digest) Short() string { return d.String()[:12] }

// IsZero reports whether d is the zero digest, which stands for "none".
func (d Digest) IsZero() bool { return d == Digest{} }

// MarshalText implements [encoding.TextMarshaler].
func (d Digest) MarshalText() ([]byte, error) {
	b := make([]byte, 2*DigestSize)
	hex.Encode(b, d[:])
	return b, nil
}

// UnmarshalText implements [encoding.TextUnmarshaler].
func (d *Digest) UnmarshalText(b []byte) error {
	p, err := ParseDigest(string(b))
	if err != nil {
		return err
	}
	*d = p
	return nil
}

// Hasher computes a [Digest] and counts bytes while data is written to it.
type Hasher struct {
	h hash.Hash
	n int64
}

// NewHasher returns an empty [Hasher].
func NewHasher() *Hasher { return &Hasher{h: sha256.New()} }

// Write implements [io.Writer]; it never fails.
func (h *Hasher) Write(p []byte) (int, error) {
	h.n += int64(len(p))
	return h.h.Write(p)
}

// Sum returns the digest of everything written so far.
func (h *Hasher) Sum() Digest {
	var d Digest
	h.h.Sum(d[:0])
	return d
}

// Size returns the number of bytes written so far.
func (h *Hasher) Size() int64 { return h.n }

// Verify reads r to the end, reading at most size+1 bytes, and checks that it
// holds exactly size bytes hashing to want. It returns an error wrapping
// [ErrSizeMismatch] or [ErrDigestMismatch] otherwise.
func Verify(r io.Reader, size int64, want Digest) error {
	h := NewHasher()
	if _, err := io.Copy(h, io.LimitReader(r, size+1)); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if h.Size() != size {
		return fmt.Errorf("verify: %w: got %d bytes, want %d", ErrSizeMismatch, h.Size(), size)
	}
	if got := h.Sum(); got != want {
		return fmt.Errorf("verify: %w: got %s, want %s", ErrDigestMismatch, got.Short(), want.Short())
	}
	return nil
}
