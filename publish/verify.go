package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"slices"

	"github.com/andybalholm/brotli"

	"github.com/capstatic/capstatic/manifest"
)

// Problem is one inconsistency [Verify] found in a tree.
type Problem struct {
	// App is the app concerned, "" for the tree's index.
	App string
	// Key is the object concerned.
	Key string
	Err error
}

// Error returns "app: key: error" (without the app for the index).
func (p *Problem) Error() string {
	if p.App == "" {
		return p.Key + ": " + p.Err.Error()
	}
	return p.App + ": " + p.Key + ": " + p.Err.Error()
}

// Unwrap returns the problem's error, such as [fs.ErrNotExist] or
// [manifest.ErrDigestMismatch].
func (p *Problem) Unwrap() error { return p.Err }

// VerifyReport is what [Verify] checked and what it found.
type VerifyReport struct {
	// Apps are the apps checked.
	Apps []string
	// Objects and Bytes count the objects read and their bytes.
	Objects int
	Bytes   int64
	// Problems lists every inconsistency, in the order found.
	Problems []*Problem
}

// Err returns the problems joined into one error, or nil.
func (r *VerifyReport) Err() error {
	errs := make([]error, len(r.Problems))
	for i, p := range r.Problems {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// Verify re-reads the tree in store and reports every inconsistency a
// reader could trip on, the way the resolver and devices read it:
//
//   - index.json decodes and lists the apps (all of them when apps is
//     empty, else it must list each of apps);
//   - each app's pointer decodes, and names a state of exactly the recorded
//     size and SHA-256 that validates, for the same app and sequence;
//   - the record of every bundle the state holds is stored and matches the
//     state's copy, and every object it references has the recorded size
//     and SHA-256: the clear zip also its CRC32, a brotli delta object also
//     the size and SHA-256 of its decoded content; encrypted objects are
//     ciphertext, checked by size and stored digest only;
//   - every bundle a channel's history names still has its record, or was
//     pruned by [GC] (which leaves a tombstone).
//
// It returns an error only when ctx is done; problems, including objects
// it could not read, are in the report.
func Verify(ctx context.Context, store Store, apps []string) (*VerifyReport, error) {
	v := &verifier{store: store, report: &VerifyReport{}, checked: map[manifest.Object]error{}}
	listed := v.index(ctx)
	if len(apps) == 0 {
		apps = listed
	}
	for _, app := range apps {
		if listed != nil && !slices.Contains(listed, app) {
			v.problem("", manifest.IndexPath, fmt.Errorf("app %s is not listed", app))
		}
		v.report.Apps = append(v.report.Apps, app)
		v.app(ctx, app)
		if err := ctx.Err(); err != nil {
			return v.report, err
		}
	}
	return v.report, ctx.Err()
}

type verifier struct {
	store  Store
	report *VerifyReport
	// checked caches the outcome of each object check: delta objects are
	// shared by the bundles of an app.
	checked map[manifest.Object]error
}

func (v *verifier) problem(app, key string, err error) {
	v.report.Problems = append(v.report.Problems, &Problem{App: app, Key: key, Err: err})
}

// read reads the document at key, of at most max bytes.
func (v *verifier) read(ctx context.Context, key string, max int64) ([]byte, error) {
	b, err := readAll(ctx, v.store, key, max)
	if err == nil {
		v.report.Objects++
		v.report.Bytes += int64(len(b))
	}
	return b, err
}

// index returns the apps index.json lists, or nil when it cannot be read.
func (v *verifier) index(ctx context.Context) []string {
	raw, err := v.read(ctx, manifest.IndexPath, manifest.MaxIndexSize)
	if err != nil {
		v.problem("", manifest.IndexPath, err)
		return nil
	}
	var idx manifest.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		v.problem("", manifest.IndexPath, fmt.Errorf("decode index: %w", err))
		return nil
	}
	apps := []string{}
	for _, app := range idx.Apps {
		if err := manifest.CheckAppID(app); err != nil {
			v.problem("", manifest.IndexPath, err)
			continue
		}
		apps = append(apps, app)
	}
	return apps
}

// app checks one app's pointer, state and bundles.
func (v *verifier) app(ctx context.Context, app string) {
	if err := manifest.CheckAppID(app); err != nil {
		v.problem(app, "", err)
		return
	}
	key := manifest.PointerPath(app)
	raw, err := v.read(ctx, key, manifest.MaxPointerSize)
	if err != nil {
		v.problem(app, key, err)
		return
	}
	p, err := manifest.DecodePointer(raw)
	if err == nil && p.App != app {
		err = fmt.Errorf("pointer names app %s", p.App)
	}
	if err != nil {
		v.problem(app, key, err)
		return
	}
	st := v.state(ctx, p)
	if st == nil {
		return
	}
	for _, id := range sortedKeys(st.Bundles) {
		v.bundle(ctx, app, st.Bundles[id])
	}
	v.history(ctx, st)
}

// state reads and checks the state p names, or reports why it cannot.
func (v *verifier) state(ctx context.Context, p *manifest.Pointer) *manifest.State {
	key := manifest.StatePath(p.App, p.State)
	raw, err := v.read(ctx, key, p.StateSize)
	switch {
	case err != nil:
	case int64(len(raw)) != p.StateSize:
		err = fmt.Errorf("%w: %d bytes, the pointer says %d", manifest.ErrSizeMismatch, len(raw), p.StateSize)
	case manifest.Sum(raw) != p.State:
		err = fmt.Errorf("%w: the content does not hash to its name", manifest.ErrDigestMismatch)
	}
	if err != nil {
		v.problem(p.App, key, err)
		return nil
	}
	st, err := manifest.DecodeState(raw)
	switch {
	case err != nil:
	case st.App != p.App:
		err = fmt.Errorf("state of app %s", st.App)
	case st.Seq != p.Seq:
		err = fmt.Errorf("state sequence %d, the pointer says %d", st.Seq, p.Seq)
	}
	if err != nil {
		v.problem(p.App, key, err)
		return nil
	}
	return st
}

// bundle checks a live bundle: its stored record and every object.
func (v *verifier) bundle(ctx context.Context, app string, b *manifest.Bundle) {
	key := manifest.BundleRecordPath(app, b.ID)
	if rec := v.record(ctx, app, b.ID, b.Version); rec != nil {
		want, err1 := manifest.EncodeBundle(b)
		got, err2 := manifest.EncodeBundle(rec)
		if err := errors.Join(err1, err2); err != nil || string(want) != string(got) {
			v.problem(app, key, errors.New("the stored record differs from the state's copy"))
		}
	}
	if b.Zip != nil {
		v.object(ctx, app, *b.Zip, zipCheck(b))
	}
	for _, f := range b.Files {
		v.object(ctx, app, f.Object, deltaCheck(f))
	}
	for _, k := range b.Keys {
		v.object(ctx, app, k.Zip, nil)
		for _, f := range k.Files {
			v.object(ctx, app, f.Object, nil)
		}
	}
}

// record reads the stored record of bundle id and checks that it is the
// record of version; it returns nil after reporting a problem.
func (v *verifier) record(ctx context.Context, app string, id manifest.Digest, version string) *manifest.Bundle {
	key := manifest.BundleRecordPath(app, id)
	raw, err := v.read(ctx, key, manifest.MaxBundleSize)
	if err != nil {
		v.problem(app, key, err)
		return nil
	}
	rec, err := manifest.DecodeBundle(app, raw)
	if err == nil && (rec.ID != id || rec.Version != version) {
		err = fmt.Errorf("record of %s %s, want %s %s", rec.ID.Short(), rec.Version, id.Short(), version)
	}
	if err != nil {
		v.problem(app, key, err)
		return nil
	}
	return rec
}

// history checks that every bundle a channel's history names still has a
// record, or a tombstone left by [GC].
func (v *verifier) history(ctx context.Context, st *manifest.State) {
	seen := map[string]bool{}
	for _, name := range st.ChannelNames() {
		for _, e := range st.Channels[name].History {
			if e.Target == "" || e.Target == manifest.Builtin || seen[e.Target] || st.Bundles[e.Target] != nil {
				continue
			}
			seen[e.Target] = true
			id, err := manifest.ParseDigest(e.Target)
			if err != nil {
				v.problem(st.App, manifest.PointerPath(st.App), fmt.Errorf("channel %q history: %w", name, err))
				continue
			}
			key := manifest.BundleRecordPath(st.App, id)
			if _, err := v.store.Stat(ctx, key); errors.Is(err, fs.ErrNotExist) {
				if _, err := v.store.Stat(ctx, prunedPath(st.App, id)); err == nil {
					continue // pruned by gc on purpose
				}
			}
			v.record(ctx, st.App, id, e.Version)
		}
	}
}

// object checks that obj is stored with its recorded size and (when
// recorded) digest, and runs content, if any, on its bytes.
func (v *verifier) object(ctx context.Context, app string, obj manifest.Object, content contentCheck) {
	if err, ok := v.checked[obj]; ok {
		if err != nil {
			v.problem(app, obj.Path, err)
		}
		return
	}
	err := v.check(ctx, obj, content)
	v.checked[obj] = err
	if err != nil {
		v.problem(app, obj.Path, err)
	}
}

// contentCheck reads an object's bytes from r and checks what it can of
// them beyond their size and digest.
type contentCheck func(r io.Reader) error

func (v *verifier) check(ctx context.Context, obj manifest.Object, content contentCheck) error {
	r, err := v.store.Open(ctx, obj.Path)
	if err != nil {
		return err
	}
	defer r.Close()
	h := manifest.NewHasher()
	src := io.TeeReader(io.LimitReader(r, obj.Size+1), h)
	var cerr error
	if content != nil {
		cerr = content(src)
	}
	if _, err := io.Copy(io.Discard, src); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	v.report.Objects++
	v.report.Bytes += h.Size()
	if h.Size() != obj.Size {
		return fmt.Errorf("%w: %s bytes, recorded %d", manifest.ErrSizeMismatch, sizeText(h.Size(), obj.Size), obj.Size)
	}
	if !obj.SHA256.IsZero() && h.Sum() != obj.SHA256 {
		return fmt.Errorf("%w: sha256 %s, recorded %s", manifest.ErrDigestMismatch, h.Sum().Short(), obj.SHA256.Short())
	}
	return cerr
}

func sizeText(got, want int64) string {
	if got > want {
		return fmt.Sprintf("more than %d", want)
	}
	return fmt.Sprint(got)
}

// zipCheck checks a clear zip against its bundle's SHA-256 and CRC32.
func zipCheck(b *manifest.Bundle) contentCheck {
	return func(r io.Reader) error {
		h, c := manifest.NewHasher(), crc32.NewIEEE()
		if _, err := io.Copy(io.MultiWriter(h, c), r); err != nil {
			return fmt.Errorf("read: %w", err)
		}
		if h.Size() != b.Size || (!b.SHA256.IsZero() && h.Sum() != b.SHA256) {
			return fmt.Errorf("%w: the zip is not the bundle's (%d bytes, sha256 %s)", manifest.ErrDigestMismatch, h.Size(), h.Sum().Short())
		}
		if got := fmt.Sprintf("%08x", c.Sum32()); b.CRC32 != "" && got != b.CRC32 {
			return fmt.Errorf("%w: crc32 %s, recorded %s", manifest.ErrDigestMismatch, got, b.CRC32)
		}
		return nil
	}
}

// deltaCheck checks a clear delta object's content: the file's SHA-256 and
// size, after brotli decoding when the object is compressed.
func deltaCheck(f manifest.File) contentCheck {
	return func(r io.Reader) error {
		if f.Brotli {
			r = brotli.NewReader(r)
		}
		h := manifest.NewHasher()
		if _, err := io.Copy(h, io.LimitReader(r, f.Size+1)); err != nil {
			return fmt.Errorf("decode %s: %w", f.Name, err)
		}
		if h.Size() != f.Size || h.Sum() != f.SHA256 {
			return fmt.Errorf("%w: content of %s is not the recorded file (%s bytes, sha256 %s)",
				manifest.ErrDigestMismatch, f.Name, sizeText(h.Size(), f.Size), h.Sum().Short())
		}
		return nil
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
