package manifest

import (
	"crypto/ed25519"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Pointer is an app's current.json: the only object of a tree that is ever
// overwritten. It names the app's current [State] by digest and length and,
// when the publisher holds a signing key, signs that name together with a
// sequence number and an expiry.
type Pointer struct {
	Format int    `json:"format"`
	App    string `json:"app"`
	// Seq equals the named state's Seq; it never decreases.
	Seq       uint64 `json:"seq"`
	State     Digest `json:"state"`
	StateSize int64  `json:"state_size"`
	// Expires, when set, is the time after which a resolver that checks
	// signatures refuses the pointer (a frozen origin).
	Expires *time.Time `json:"expires,omitempty"`
	// Signature is base64 Ed25519 over [Pointer.SignedBytes]; SignKey names
	// the key as the first 16 hex characters of its SHA-256.
	Signature string `json:"sig,omitempty"`
	SignKey   string `json:"sig_key,omitempty"`
}

// Errors returned by [Pointer.Verify].
var (
	ErrUnsigned     = errors.New("pointer is not signed")
	ErrBadSignature = errors.New("pointer signature does not verify")
	ErrExpired      = errors.New("pointer has expired")
)

// SignedBytes is the exact byte string a pointer signature covers.
func (p *Pointer) SignedBytes() []byte {
	exp := ""
	if p.Expires != nil {
		exp = p.Expires.UTC().Format(time.RFC3339)
	}
	return []byte("capstatic-pointer-v1\n" + p.App + "\n" + strconv.FormatUint(p.Seq, 10) + "\n" +
		p.State.String() + "\n" + strconv.FormatInt(p.StateSize, 10) + "\n" + exp + "\n")
}

// SigningKeyID names an Ed25519 public key for [Pointer.SignKey].
func SigningKeyID(pub ed25519.PublicKey) string { return Sum(pub).String()[:16] }

// Sign signs p with priv, valid until expires (zero for no expiry).
func (p *Pointer) Sign(priv ed25519.PrivateKey, expires time.Time) {
	p.Expires = nil
	if !expires.IsZero() {
		e := expires.UTC().Truncate(time.Second)
		p.Expires = &e
	}
	p.SignKey = SigningKeyID(priv.Public().(ed25519.PublicKey))
	p.Signature = base64.StdEncoding.EncodeToString(ed25519.Sign(priv, p.SignedBytes()))
}

// Verify checks p's signature against pub and its expiry against now.
func (p *Pointer) Verify(pub ed25519.PublicKey, now time.Time) error {
	if p.Signature == "" {
		return ErrUnsigned
	}
	sig, err := base64.StdEncoding.DecodeString(p.Signature)
	if err != nil || !ed25519.Verify(pub, p.SignedBytes(), sig) {
		return ErrBadSignature
	}
	if p.Expires != nil && now.After(*p.Expires) {
		return fmt.Errorf("%w at %s", ErrExpired, p.Expires.Format(time.RFC3339))
	}
	return nil
}
