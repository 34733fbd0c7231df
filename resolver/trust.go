package resolver

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/capstatic/capstatic/manifest"
)

// Refusals of a [Trust], beside [manifest.ErrUnsigned] and
// [manifest.ErrBadSignature]. ErrFrozen also wraps [manifest.ErrExpired].
var (
	ErrWrongKey = errors.New("pointer signed by an untrusted key")
	ErrRollback = errors.New("pointer rolls back to an older state")
	ErrFrozen   = errors.New("pointer expired (frozen origin)")
)

// TrustConfig configures a [Trust].
type TrustConfig struct {
	// StateFile, when set, persists the highest sequence number trusted
	// for each app: [NewTrust] reads it and every newly trusted sequence is
	// written to it atomically before the pointer is accepted. Without it
	// the highest sequences live in memory only, and a restarted resolver
	// trusts the first validly signed, unexpired pointer it reads for each
	// app (trust on first use), whatever its sequence number: a host that
	// serves an old but unexpired signed pointer at that moment rolls the
	// resolver back to it. Expiry bounds how old that pointer can be.
	StateFile string
	// Keys are public keys accepted besides the one given to [NewTrust],
	// for the overlap of a key rotation.
	Keys []ed25519.PublicKey
	// Now is the clock for expiry; nil means time.Now.
	Now func() time.Time
}

// Trust is the [Verifier] of signed pointers (see [manifest.Pointer]). It
// refuses a pointer that is unsigned, badly signed, signed by a key it does
// not hold, expired, or older than the highest sequence number it trusted
// for the app; an equal sequence number must name the same state. It is
// safe for concurrent use.
type Trust struct {
	keys map[string]ed25519.PublicKey // by manifest.SigningKeyID
	cfg  TrustConfig

	mu   sync.Mutex
	high map[string]trusted // app → highest trusted
}

// trusted is the highest pointer trusted for an app.
type trusted struct {
	Seq   uint64          `json:"seq"`
	State manifest.Digest `json:"state"`
}

// trustFile is the JSON document of [TrustConfig.StateFile].
type trustFile struct {
	Format int                `json:"format"`
	Apps   map[string]trusted `json:"apps"`
}

var _ Verifier = (*Trust)(nil)

// NewTrust returns a [Trust] of the Ed25519 public key pub (and of
// cfg.Keys), reading cfg.StateFile when it exists. An unreadable or
// invalid state file is an error: silently starting afresh would drop
// rollback protection.
func NewTrust(pub ed25519.PublicKey, cfg TrustConfig) (*Trust, error) {
	t := &Trust{keys: map[string]ed25519.PublicKey{}, cfg: cfg, high: map[string]trusted{}}
	for _, k := range append([]ed25519.PublicKey{pub}, cfg.Keys...) {
		if len(k) != ed25519.PublicKeySize {
			return nil, fmt.Errorf("signing public key: %d bytes, want %d", len(k), ed25519.PublicKeySize)
		}
		t.keys[manifest.SigningKeyID(k)] = k
	}
	if cfg.StateFile != "" {
		if err := t.load(); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// Check implements [Verifier]: it verifies p and, when p is newer than
// anything trusted for its app, records (and persists) its sequence
// number. current is the pointer the caller serves now, or nil.
func (t *Trust) Check(p, current *manifest.Pointer) error {
	if err := t.verify(p); err != nil {
		return fmt.Errorf("pointer seq %d: %w", p.Seq, err)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	high, ok := t.high[p.App]
	if current != nil && (!ok || current.Seq > high.Seq) {
		high, ok = trusted{Seq: current.Seq, State: current.State}, true
	}
	switch {
	case !ok || p.Seq > high.Seq:
		return t.record(p)
	case p.Seq < high.Seq:
		return fmt.Errorf("pointer seq %d: %w: seq %d is trusted", p.Seq, ErrRollback, high.Seq)
	case p.State != high.State:
		return fmt.Errorf("pointer seq %d: %w: it names state %s, trusted state %s",
			p.Seq, ErrRollback, p.State.Short(), high.State.Short())
	}
	return nil
}

// Highest returns the highest sequence number trusted for app.
func (t *Trust) Highest(app string) (seq uint64, ok bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	h, ok := t.high[app]
	return h.Seq, ok
}

func (t *Trust) verify(p *manifest.Pointer) error {
	if p.Signature == "" {
		return manifest.ErrUnsigned
	}
	// SignKey is an unsigned label: a wrong one can only cause a refusal.
	pub, ok := t.keys[p.SignKey]
	if !ok {
		return fmt.Errorf("%w %q", ErrWrongKey, p.SignKey)
	}
	now := time.Now()
	if t.cfg.Now != nil {
		now = t.cfg.Now()
	}
	err := p.Verify(pub, now)
	if errors.Is(err, manifest.ErrExpired) {
		return fmt.Errorf("%w: %w", ErrFrozen, err)
	}
	return err
}

// record makes p the highest trusted pointer of its app, persisting it
// first when there is a state file. t.mu is held.
func (t *Trust) record(p *manifest.Pointer) error {
	old, had := t.high[p.App]
	t.high[p.App] = trusted{Seq: p.Seq, State: p.State}
	if t.cfg.StateFile == "" {
		return nil
	}
	if err := t.save(); err != nil {
		if had {
			t.high[p.App] = old
		} else {
			delete(t.high, p.App)
		}
		return fmt.Errorf("persist trusted sequence: %w", err)
	}
	return nil
}

func (t *Trust) load() error {
	raw, err := os.ReadFile(t.cfg.StateFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("trust state: %w", err)
	}
	var f trustFile
	if err := json.Unmarshal(raw, &f); err != nil {
		return fmt.Errorf("trust state %s: %w", t.cfg.StateFile, err)
	}
	if f.Format != 1 {
		return fmt.Errorf("trust state %s: unsupported format %d", t.cfg.StateFile, f.Format)
	}
	for app, h := range f.Apps {
		if !manifest.ValidAppID(app) {
			return fmt.Errorf("trust state %s: invalid app id %q", t.cfg.StateFile, app)
		}
		t.high[app] = h
	}
	return nil
}

// save writes the state file atomically: a temporary file in the same
// folder, fsync, rename, then fsync of the folder.
func (t *Trust) save() error {
	raw, err := json.MarshalIndent(trustFile{Format: 1, Apps: t.high}, "", " ")
	if err != nil {
		return err
	}
	dir := filepath.Dir(t.cfg.StateFile)
	tmp, err := os.CreateTemp(dir, ".trust-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(append(raw, '\n')); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), t.cfg.StateFile); err != nil {
		return err
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // best effort: not every file system syncs folders
		d.Close()
	}
	return nil
}

// FailureLabel names the kind of a [Catalog] reload failure, as told to
// [Catalog.Observe], for a metrics label: "" for nil, then "rollback",
// "frozen", "wrong_key", "unsigned", "bad_signature", "invalid_pointer",
// "not_found", "digest_mismatch", "timeout", "truncated", "too_large",
// "origin" (any other origin failure) or "other".
func FailureLabel(err error) string {
	labels := []struct {
		target error
		label  string
	}{
		{ErrRollback, "rollback"}, {ErrFrozen, "frozen"}, {ErrWrongKey, "wrong_key"},
		{manifest.ErrUnsigned, "unsigned"}, {manifest.ErrBadSignature, "bad_signature"},
		{ErrInvalidPointer, "invalid_pointer"}, {fs.ErrNotExist, "not_found"},
		{manifest.ErrDigestMismatch, "digest_mismatch"}, {manifest.ErrSizeMismatch, "digest_mismatch"},
		{context.DeadlineExceeded, "timeout"}, {ErrTruncated, "truncated"}, {ErrTooLarge, "too_large"},
		{ErrOrigin, "origin"},
	}
	if err == nil {
		return ""
	}
	for _, l := range labels {
		if errors.Is(err, l.target) {
			return l.label
		}
	}
	return "other"
}
