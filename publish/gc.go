package publish

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/capstatic/capstatic/manifest"
)

// Defaults of [GC].
const (
	// DefaultKeep is how many of the most recent versions in each channel's
	// history keep their bundles.
	DefaultKeep = 10
	// DefaultGrace is the age under which no object is deleted: a publish
	// in flight may have uploaded objects and not yet flipped the pointer.
	DefaultGrace = 24 * time.Hour
)

// GC deletes the objects of a tree that no reader needs any more: bundles
// that no channel offers and that are older than each channel's Keep most
// recent history versions, delta objects no kept bundle uses, and states
// other than the current one. It needs a [Lister].
//
// What stays:
//
//   - every app's current.json and the tree's index.json (never deleted),
//     and the current state;
//   - the bundles the current state holds (channel targets and rollouts),
//     the bundles of the Keep most recent distinct versions in each
//     channel's history, and the bundles held by states younger than
//     Grace (written by an operation that may not have flipped its pointer
//     yet): their records and every object the records reference;
//   - every object younger than Grace, by its modification time, and every
//     bundle whose record is;
//   - anything under an app's folder that is not a tree object (unknown
//     names are left alone).
//
// GC deletes in the reverse of publish order, so that a crash leaves no
// bundle record without its objects: for each bundle it removes, it first
// writes a tombstone, <app>/bundles/<id>/pruned.json, which tells [Verify]
// that a history entry's missing record was pruned on purpose (a rollback
// to it then fails with "no such file"), then deletes the record, then the
// bundle's objects, then old states.
//
// GC does not lock the tree. The grace period protects objects that a
// concurrent publish uploaded; a publish or rollback that starts before GC
// and reuses an old object that only pruned bundles referenced can still
// lose it. Run GC when no publisher runs (one CI job after another), and
// [Verify] afterwards.
type GC struct {
	Store Store
	// Apps limits collection to these apps; empty means every app
	// index.json lists.
	Apps []string
	// Keep is how many distinct versions of each channel's history keep
	// their bundles; zero means [DefaultKeep], a negative number keeps only
	// the bundles channels offer now.
	Keep int
	// Grace protects younger objects; zero means [DefaultGrace], a negative
	// duration protects none (only safe when no publisher can run).
	Grace time.Duration
	// DryRun reports what would be deleted and changes nothing.
	DryRun bool
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Log receives diagnostics; nil discards.
	Log *slog.Logger
}

// GCReport is what a [GC] run did, or would do in a dry run.
type GCReport struct {
	Apps []string
	// Deleted lists the objects deleted (or that would be), in order.
	Deleted []Deleted
	// Bytes is the total size of Deleted.
	Bytes int64
	// Kept counts the objects that stay, Young those kept only because they
	// are younger than the grace period.
	Kept, Young int
}

// Deleted is one object a [GC] run deleted.
type Deleted struct {
	Key  string
	Size int64
}

// prunedPath is the tombstone [GC] leaves for bundle id of app.
func prunedPath(app string, id manifest.Digest) string {
	return app + "/bundles/" + id.String() + "/pruned.json"
}

// Run collects garbage in every app of g.Apps. An app whose state cannot be
// read is left untouched and reported in the error, after the other apps
// were collected.
func (g *GC) Run(ctx context.Context) (*GCReport, error) {
	lister, ok := g.Store.(Lister)
	if !ok {
		return nil, fmt.Errorf("gc: %T cannot list its objects", g.Store)
	}
	apps := g.Apps
	if len(apps) == 0 {
		var err error
		if apps, err = indexApps(ctx, g.Store); err != nil {
			return nil, fmt.Errorf("gc: %w", err)
		}
	}
	rep := &GCReport{}
	var errs []error
	for _, app := range apps {
		if err := g.app(ctx, lister, app, rep); err != nil {
			if ctx.Err() != nil {
				return rep, err
			}
			errs = append(errs, fmt.Errorf("gc %s: %w", app, err))
			continue
		}
		rep.Apps = append(rep.Apps, app)
	}
	return rep, errors.Join(errs...)
}

func indexApps(ctx context.Context, store Store) ([]string, error) {
	raw, err := readAll(ctx, store, manifest.IndexPath, manifest.MaxIndexSize)
	if err != nil {
		return nil, err
	}
	var idx manifest.Index
	if err := json.Unmarshal(raw, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", manifest.IndexPath, err)
	}
	return idx.Apps, nil
}

func (g *GC) now() time.Time {
	if g.Now != nil {
		return g.Now()
	}
	return time.Now()
}

func (g *GC) log() *slog.Logger {
	if g.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Log
}

func (g *GC) keep() int {
	switch {
	case g.Keep == 0:
		return DefaultKeep
	case g.Keep < 0:
		return 0
	}
	return g.Keep
}

func (g *GC) grace() time.Duration {
	switch {
	case g.Grace == 0:
		return DefaultGrace
	case g.Grace < 0:
		return 0
	}
	return g.Grace
}

// sweep is the collection of one app.
type sweep struct {
	app     string
	st      *manifest.State
	cutoff  time.Time
	objects map[string]Info // every object under the app's folder
	keep    map[string]bool // keys that stay
	bundles map[string]*manifest.Bundle
}

func (g *GC) app(ctx context.Context, l Lister, app string, rep *GCReport) error {
	if err := manifest.CheckAppID(app); err != nil {
		return err
	}
	// A missing or unreadable pointer or state: touch nothing.
	raw, err := readAll(ctx, g.Store, manifest.PointerPath(app), manifest.MaxPointerSize)
	if err != nil {
		return err
	}
	p, err := manifest.DecodePointer(raw)
	if err != nil {
		return err
	}
	st, err := readState(ctx, g.Store, p)
	if err != nil {
		return err
	}
	s := &sweep{app: app, st: st, cutoff: g.now().Add(-g.grace()),
		objects: map[string]Info{}, keep: map[string]bool{}, bundles: map[string]*manifest.Bundle{}}
	s.keep[manifest.StatePath(app, p.State)] = true
	err = l.List(ctx, app+"/", func(key string, info Info) error {
		s.objects[key] = info
		return nil
	})
	if err != nil {
		return err
	}
	s.keep[manifest.PointerPath(app)] = true
	s.keepBundles(g.keep())
	if err := s.youngStates(ctx, g.Store); err != nil {
		return err
	}
	if err := s.readRecords(ctx, g.Store); err != nil {
		return err
	}
	return g.delete(ctx, s, rep)
}

// keepBundles marks the bundles the current state holds and those of the
// n most recent distinct versions of each channel's history.
func (s *sweep) keepBundles(n int) {
	for id, b := range s.st.Bundles {
		s.bundles[id] = b
	}
	for _, ch := range s.st.Channels {
		seen := map[string]bool{}
		for i := len(ch.History) - 1; i >= 0 && len(seen) < n; i-- {
			t := ch.History[i].Target
			if t == "" || t == manifest.Builtin || seen[t] {
				continue
			}
			seen[t] = true
			if _, ok := s.bundles[t]; !ok {
				s.bundles[t] = nil // record read by readRecords
			}
		}
	}
}

// youngStates keeps the bundles held by states younger than the grace
// period (the states themselves stay for their age).
func (s *sweep) youngStates(ctx context.Context, store Store) error {
	for key, info := range s.objects {
		if !strings.HasPrefix(key, s.app+"/states/") || !info.ModTime.After(s.cutoff) || s.keep[key] {
			continue
		}
		raw, err := readAll(ctx, store, key, manifest.MaxStateSize)
		if err != nil {
			return err
		}
		st, err := manifest.DecodeState(raw)
		if err != nil {
			continue // not a state a publisher wrote; kept as young anyway
		}
		for id, b := range st.Bundles {
			if s.bundles[id] == nil {
				s.bundles[id] = b
			}
		}
	}
	return nil
}

// readRecords marks the kept bundles' records and objects, and those of
// every bundle whose record is younger than the grace period.
func (s *sweep) readRecords(ctx context.Context, store Store) error {
	for key, info := range s.objects {
		id, ok := s.recordID(key)
		if ok && info.ModTime.After(s.cutoff) {
			if _, kept := s.bundles[id.String()]; !kept {
				s.bundles[id.String()] = nil
			}
		}
	}
	for _, id := range sortedKeys(s.bundles) {
		d, err := manifest.ParseDigest(id)
		if err != nil {
			continue
		}
		rec := s.bundles[id]
		key := manifest.BundleRecordPath(s.app, d)
		if _, stored := s.objects[key]; !stored {
			if rec == nil {
				continue // pruned earlier, or never written
			}
		} else if rec == nil {
			raw, err := readAll(ctx, store, key, manifest.MaxBundleSize)
			if err != nil {
				return err
			}
			if rec, err = manifest.DecodeBundle(s.app, raw); err != nil {
				return fmt.Errorf("%s: %w", key, err) // do not guess what it references
			}
		}
		s.keep[key] = true
		s.keep[prunedPath(s.app, d)] = true
		for _, p := range objectPaths(rec) {
			s.keep[p] = true
		}
	}
	return nil
}

// recordID returns the bundle id of a record key of the app.
func (s *sweep) recordID(key string) (manifest.Digest, bool) {
	rest, ok := strings.CutPrefix(key, s.app+"/bundles/")
	if !ok {
		return manifest.Digest{}, false
	}
	hex, ok := strings.CutSuffix(rest, "/bundle.json")
	if !ok {
		return manifest.Digest{}, false
	}
	id, err := manifest.ParseDigest(hex)
	return id, err == nil
}

// objectPaths lists the tree paths of every object of bundle b.
func objectPaths(b *manifest.Bundle) []string {
	var paths []string
	if b.Zip != nil {
		paths = append(paths, b.Zip.Path)
	}
	for _, f := range b.Files {
		paths = append(paths, f.Object.Path)
	}
	for _, k := range b.Keys {
		paths = append(paths, k.Zip.Path)
		for _, f := range k.Files {
			paths = append(paths, f.Object.Path)
		}
	}
	return paths
}

// kind sorts the keys GC may delete into the order it deletes them; other
// keys are not tree objects it knows and stay.
func (s *sweep) kind(key string) (rank int, ok bool) {
	rest := strings.TrimPrefix(key, s.app+"/")
	switch {
	case strings.HasPrefix(rest, "bundles/") && strings.HasSuffix(rest, "/pruned.json"):
		return 0, false
	case strings.HasPrefix(rest, "bundles/") && strings.HasSuffix(rest, "/bundle.json"):
		return 1, true
	case strings.HasPrefix(rest, "bundles/"), strings.HasPrefix(rest, "files/"):
		return 2, true
	case strings.HasPrefix(rest, "states/") && strings.HasSuffix(rest, ".json"):
		return 3, true
	}
	return 0, false
}

// delete removes what s does not keep: tombstones first, then records, then
// objects, then states.
func (g *GC) delete(ctx context.Context, s *sweep, rep *GCReport) error {
	var doomed []string
	for key, info := range s.objects {
		_, known := s.kind(key)
		switch {
		case s.keep[key] || !known:
			rep.Kept++
		case info.ModTime.After(s.cutoff):
			rep.Kept++
			rep.Young++
		default:
			doomed = append(doomed, key)
		}
	}
	slices.SortFunc(doomed, func(a, b string) int {
		ra, _ := s.kind(a)
		rb, _ := s.kind(b)
		if ra != rb {
			return ra - rb
		}
		return strings.Compare(a, b)
	})
	versions := map[manifest.Digest]string{}
	for v, id := range s.st.Versions {
		versions[id] = v
	}
	var errs []error
	for _, key := range doomed {
		if id, ok := s.recordID(key); ok && !g.DryRun {
			if err := g.tombstone(ctx, s, id, versions[id]); err != nil {
				return err // without it, deleting the record would look like damage
			}
		}
		if !g.DryRun {
			if err := g.Store.Delete(ctx, key); err != nil {
				if ctx.Err() != nil {
					return err
				}
				errs = append(errs, err)
				continue
			}
			g.log().Debug("deleted", "key", key)
		}
		rep.Deleted = append(rep.Deleted, Deleted{Key: key, Size: s.objects[key].Size})
		rep.Bytes += s.objects[key].Size
	}
	return errors.Join(errs...)
}

// tombstone writes the tombstone of bundle id unless it exists.
func (g *GC) tombstone(ctx context.Context, s *sweep, id manifest.Digest, version string) error {
	key := prunedPath(s.app, id)
	if _, ok := s.objects[key]; ok {
		return nil
	}
	b, err := json.MarshalIndent(map[string]any{"id": id, "version": version, "pruned": g.now().UTC()}, "", " ")
	if err != nil {
		return err
	}
	return putBytes(ctx, g.Store, key, append(b, '\n'))
}
