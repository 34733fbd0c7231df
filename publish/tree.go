package publish

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"time"

	"github.com/capstatic/capstatic/manifest"
)

// ErrNoApp is returned by [Load] when the tree has no state for the app.
var ErrNoApp = errors.New("app has no published state")

// Head is what a writer read before changing an app: its current state and
// the pointer's entity tag, which the final conditional write must match.
type Head struct {
	State *manifest.State
	// ETag of the pointer, "" when the app is new.
	ETag string
}

// Load reads app's current state from store, verifying the state's length
// and digest against the pointer. A missing app returns an empty state, a
// zero [Head.ETag] and an error wrapping [ErrNoApp].
func Load(ctx context.Context, store Store, app string) (*Head, error) {
	if err := manifest.CheckAppID(app); err != nil {
		return nil, err
	}
	key := manifest.PointerPath(app)
	info, err := store.Stat(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return &Head{State: manifest.NewState(app)}, fmt.Errorf("%s: %w", app, ErrNoApp)
	}
	if err != nil {
		return nil, err
	}
	raw, err := readAll(ctx, store, key, manifest.MaxPointerSize)
	if err != nil {
		return nil, err
	}
	p, err := manifest.DecodePointer(raw)
	if err != nil {
		return nil, err
	}
	st, err := readState(ctx, store, p)
	if err != nil {
		return nil, err
	}
	// The ETag must describe the bytes we decoded; re-check it after reading
	// so a pointer flipped in between is caught by the final Swap.
	return &Head{State: st, ETag: info.ETag}, nil
}

func readState(ctx context.Context, store Store, p *manifest.Pointer) (*manifest.State, error) {
	raw, err := readAll(ctx, store, manifest.StatePath(p.App, p.State), p.StateSize)
	if err != nil {
		return nil, err
	}
	if int64(len(raw)) != p.StateSize || manifest.Sum(raw) != p.State {
		return nil, fmt.Errorf("state %s of %s: %w", p.State.Short(), p.App, manifest.ErrDigestMismatch)
	}
	return manifest.DecodeState(raw)
}

func readAll(ctx context.Context, store Store, key string, max int64) ([]byte, error) {
	r, err := store.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	b, err := manifest.ReadAll(r, max)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", key, err)
	}
	return b, nil
}

// Signer signs pointers; the zero value signs nothing.
type Signer struct {
	Key ed25519.PrivateKey
	// TTL is how long a signed pointer stays valid; zero means no expiry.
	TTL time.Duration
}

// Commit writes st as the app's new state and then flips the pointer to it
// with a conditional write against head's ETag: the state document first
// (immutable, named by its digest), the pointer last, so a reader sees the
// whole old state or the whole new one. A concurrent writer that flipped
// the pointer first makes Commit fail with an error wrapping [ErrConflict].
func Commit(ctx context.Context, store Store, head *Head, st *manifest.State, sign Signer, now time.Time) (*manifest.Pointer, error) {
	st.Format, st.Updated = manifest.FormatVersion, now.UTC()
	if err := precomputeNatives(ctx, store, st); err != nil { // native.go
		return nil, err
	}
	st.Precompute()
	st.Prune()
	raw, err := manifest.EncodeState(st)
	if err != nil {
		return nil, err
	}
	p := &manifest.Pointer{Format: manifest.FormatVersion, App: st.App, Seq: st.Seq,
		State: manifest.Sum(raw), StateSize: int64(len(raw))}
	if sign.Key != nil {
		var exp time.Time
		if sign.TTL > 0 {
			exp = now.Add(sign.TTL)
		}
		p.Sign(sign.Key, exp)
	}
	if err := putBytes(ctx, store, manifest.StatePath(st.App, p.State), raw); err != nil {
		return nil, err
	}
	ptr, err := manifest.EncodePointer(p)
	if err != nil {
		return nil, err
	}
	if err := swap(ctx, store, manifest.PointerPath(st.App), ptr, head.ETag); err != nil {
		return nil, err
	}
	return p, updateIndex(ctx, store, st.App)
}

// swap writes the pointer conditionally when the store supports it, and
// otherwise re-checks the ETag just before an unconditional write (a
// best-effort check for stores without compare-and-swap).
func swap(ctx context.Context, store Store, key string, b []byte, etag string) error {
	if sw, ok := store.(Swapper); ok {
		if err := sw.Swap(ctx, key, bytes.NewReader(b), int64(len(b)), etag); err != nil {
			return fmt.Errorf("flip pointer %s: %w", key, err)
		}
		return nil
	}
	info, err := store.Stat(ctx, key)
	switch {
	case err == nil && info.ETag != etag, err != nil && etag != "" && errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("flip pointer %s: %w", key, ErrConflict)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	return putBytes(ctx, store, key, b)
}

func putBytes(ctx context.Context, store Store, key string, b []byte) error {
	if err := store.Put(ctx, key, bytes.NewReader(b), int64(len(b))); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// updateIndex adds app to the tree's index.json when it is missing. The
// index only lists apps; a lost update is repaired by the next publish.
func updateIndex(ctx context.Context, store Store, app string) error {
	var idx manifest.Index
	if raw, err := readAll(ctx, store, manifest.IndexPath, manifest.MaxIndexSize); err == nil {
		if err := json.Unmarshal(raw, &idx); err != nil {
			return fmt.Errorf("index.json: %w", err)
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if slices.Contains(idx.Apps, app) {
		return nil
	}
	idx.Apps = append(idx.Apps, app)
	slices.Sort(idx.Apps)
	b, err := json.MarshalIndent(idx, "", " ")
	if err != nil {
		return err
	}
	return putBytes(ctx, store, manifest.IndexPath, b)
}

// exists reports whether key is present in store.
func exists(ctx context.Context, store Store, key string) (bool, error) {
	_, err := store.Stat(ctx, key)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// putFile uploads r to key unless it is already there (immutable objects
// are named by digests, so presence means the same bytes).
func putIfAbsent(ctx context.Context, store Store, key string, open func() (io.ReadCloser, int64, error)) (bool, error) {
	if ok, err := exists(ctx, store, key); err != nil || ok {
		return false, err
	}
	r, size, err := open()
	if err != nil {
		return false, err
	}
	defer r.Close()
	if err := store.Put(ctx, key, r, size); err != nil {
		return false, fmt.Errorf("write %s: %w", key, err)
	}
	return true, nil
}
