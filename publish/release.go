package publish

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/capstatic/capstatic/delta"
	"github.com/capstatic/capstatic/manifest"
)

// ErrVersionExists is returned when a version is published again with
// different bytes.
var ErrVersionExists = errors.New("version already published with different content")

// Release describes one bundle to publish.
type Release struct {
	App     string
	Version string
	// Channel receives the bundle as its target; "" publishes without
	// assigning it.
	Channel string
	// Build is the web build (index.html at its root).
	Build fs.FS
	// MinUpdateVersion, Link, Comment, Fingerprint and Native go into the
	// bundle record; see [manifest.Bundle].
	MinUpdateVersion string
	Link, Comment    string
	Fingerprint      string
	Native           string
	// Level is the brotli quality for delta objects; negative skips brotli
	// except where a name forces it (watch mode).
	Level int
	// Settings, when set, are the settings of a channel this release
	// creates; nil means Capgo's defaults.
	Settings *manifest.Settings
	// Keys, when not empty, makes the release encrypted: one record per
	// key, and no clear zip or clear delta object is written (see
	// encrypt.go).
	Keys []Key
	// Force publishes even when no registered native build of the
	// channel's platforms can run the bundle (see native.go).
	Force bool
}

// Publisher writes releases and operations to a [Store].
type Publisher struct {
	Store Store
	// Log receives diagnostics; nil discards.
	Log *slog.Logger
	// Sign signs every pointer written; the zero value signs nothing.
	Sign Signer
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// TempDir holds zips while they are built; "" means os.TempDir.
	TempDir string
	// Progress, when set, is told about every object written or skipped.
	Progress func(key string, size int64, written bool)
}

// Result reports what a publish did.
type Result struct {
	Bundle *manifest.Bundle
	// Unchanged means the same version with the same bytes was already
	// published; nothing was uploaded.
	Unchanged bool
	// Created is set when the release created its channel; Defaults lists
	// the platforms for which it became the public default.
	Created  bool
	Defaults []string
	Seq      uint64
	// Written and Skipped count objects uploaded and already present;
	// Bytes is the number of bytes uploaded.
	Written, Skipped int
	Bytes            int64
	// Previous holds the channel's earlier history records, for reports.
	Previous []manifest.Event
}

func (p *Publisher) now() time.Time {
	if p.Now != nil {
		return p.Now()
	}
	return time.Now()
}

func (p *Publisher) log() *slog.Logger {
	if p.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return p.Log
}

// Publish builds rel and writes it: immutable objects first (zip, delta
// objects, bundle record), then the new state, then the pointer. An error at
// any point leaves the previous release serving.
func (p *Publisher) Publish(ctx context.Context, rel Release) (*Result, error) {
	if err := checkRelease(rel); err != nil {
		return nil, err
	}
	head, err := Load(ctx, p.Store, rel.App)
	if err != nil && !errors.Is(err, ErrNoApp) {
		return nil, err
	}
	if err := checkNative(head.State, rel); err != nil { // native.go
		return nil, err
	}
	entries, err := delta.Scan(rel.Build)
	if err != nil {
		return nil, err
	}
	z, err := writeZip(ctx, rel.Build, entries, p.TempDir)
	if err != nil {
		return nil, err
	}
	defer z.remove()
	if len(rel.Keys) > 0 {
		return p.publishEncrypted(ctx, rel, head, entries, z) // encrypt.go
	}
	id := manifest.BundleID(rel.Version, z.sha256)
	res := &Result{}
	if prev, ok := head.State.Versions[rel.Version]; ok {
		if prev != id {
			return nil, fmt.Errorf("%s %s: %w", rel.App, rel.Version, ErrVersionExists)
		}
		res.Unchanged = true
	}
	rec, err := p.writeBundle(ctx, rel, head.State, entries, z, id, res)
	if err != nil {
		return nil, err
	}
	return p.finish(ctx, rel, head, rec, res)
}

// finish assigns rec to the release's channel in a new state and flips the
// pointer. A bundle the channel already offers needs no new state (a
// retried or repeated publish); the index is still written, since adding
// the app to it is the step a crashed first publish may have missed.
func (p *Publisher) finish(ctx context.Context, rel Release, head *Head, rec *manifest.Bundle, res *Result) (*Result, error) {
	res.Bundle = rec
	if ch := head.State.Channels[rel.Channel]; rel.Channel == "" || ch != nil && ch.Target == rec.ID.String() {
		res.Seq = head.State.Seq
		if rel.Channel == "" {
			return res, nil
		}
		return res, updateIndex(ctx, p.Store, rel.App)
	}
	st := head.State.Clone()
	st.Seq++
	assign(st, rel, rec, res, p.now())
	ptr, err := Commit(ctx, p.Store, head, st, p.Sign, p.now())
	if err != nil {
		return nil, err
	}
	res.Seq = ptr.Seq
	return res, nil
}

func checkRelease(rel Release) error {
	if err := manifest.CheckAppID(rel.App); err != nil {
		return err
	}
	if rel.Version == manifest.Builtin {
		return errors.New(`version "builtin" is reserved`)
	}
	if _, err := manifest.ParseBundleVersion(rel.Version); err != nil {
		return err
	}
	if rel.Channel != "" && !manifest.ValidChannelName(rel.Channel) {
		return fmt.Errorf("invalid channel name %q", rel.Channel)
	}
	if rel.MinUpdateVersion != "" {
		if _, err := manifest.CoerceNative(rel.MinUpdateVersion); err != nil {
			return fmt.Errorf("min update version: %w", err)
		}
	}
	return nil
}

// writeBundle uploads the zip, the delta objects and the bundle record,
// skipping objects already present. It returns the record (the stored one
// when the bundle already exists).
func (p *Publisher) writeBundle(ctx context.Context, rel Release, prev *manifest.State, entries []delta.Entry, z *builtZip, id manifest.Digest, res *Result) (*manifest.Bundle, error) {
	recKey := manifest.BundleRecordPath(rel.App, id)
	if raw, err := readAll(ctx, p.Store, recKey, manifest.MaxBundleSize); err == nil {
		return manifest.DecodeBundle(rel.App, raw)
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	rec := &manifest.Bundle{ID: id, Version: rel.Version, Created: p.now().UTC(), Size: z.size,
		SHA256: z.sha256, CRC32: z.crc32, MinUpdateVersion: rel.MinUpdateVersion, Link: rel.Link,
		Comment: rel.Comment, Fingerprint: rel.Fingerprint, Native: rel.Native}
	files, err := p.writeDelta(ctx, rel, prev, entries, res)
	if err != nil {
		return nil, err
	}
	rec.Files = files
	zipKey := manifest.ZipPath(rel.App, id)
	if err := p.put(ctx, zipKey, z.size, func() (io.ReadCloser, error) { return z.open() }, res); err != nil {
		return nil, err
	}
	rec.Zip = &manifest.Object{Path: zipKey, Size: z.size, SHA256: z.sha256}
	raw, err := manifest.EncodeBundle(rec)
	if err != nil {
		return nil, err
	}
	if err := p.put(ctx, recKey, int64(len(raw)), bytesOpener(raw), res); err != nil {
		return nil, err
	}
	return rec, nil
}

func bytesOpener(b []byte) func() (io.ReadCloser, error) {
	return func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
}

// put uploads an immutable object unless it is already present.
func (p *Publisher) put(ctx context.Context, key string, size int64, open func() (io.ReadCloser, error), res *Result) error {
	written, err := putIfAbsent(ctx, p.Store, key, func() (io.ReadCloser, int64, error) {
		r, err := open()
		return r, size, err
	})
	if err != nil {
		return err
	}
	if written {
		res.Written++
		res.Bytes += size
	} else {
		res.Skipped++
	}
	if p.Progress != nil {
		p.Progress(key, size, written)
	}
	return nil
}

// writeDelta builds and uploads the clear delta objects that the store
// does not hold yet.
func (p *Publisher) writeDelta(ctx context.Context, rel Release, prev *manifest.State, entries []delta.Entry, res *Result) ([]manifest.File, error) {
	have, err := p.knownObjects(ctx, rel.App, prev)
	if err != nil {
		return nil, err
	}
	opt := delta.Options{App: rel.App, Level: rel.Level, Have: func(path string) (manifest.Object, bool) {
		o, ok := have[path]
		return o, ok
	}}
	files, err := delta.Build(ctx, rel.Build, entries, opt, func(o delta.Object) error {
		return p.put(ctx, o.Path, int64(len(o.Data)), bytesOpener(o.Data), res)
	})
	if err != nil {
		return nil, err
	}
	return files, delta.CheckWireNames(files)
}

// knownObjects lists the app's delta objects already in the store: the
// records of live bundles give full descriptions, a listing adds the rest.
func (p *Publisher) knownObjects(ctx context.Context, app string, prev *manifest.State) (map[string]manifest.Object, error) {
	have := map[string]manifest.Object{}
	l, canList := p.Store.(Lister)
	if canList {
		err := l.List(ctx, app+"/files/", func(key string, info Info) error {
			have[key] = manifest.Object{Path: key, Size: info.Size}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("list delta objects: %w", err)
		}
	}
	for _, b := range prev.Bundles {
		for _, f := range b.Files {
			if _, listed := have[f.Object.Path]; listed || !canList {
				have[f.Object.Path] = f.Object
			}
		}
	}
	return have, nil
}

// assign makes rec the target of rel.Channel in st, creating the channel
// (and making it the default of platforms that have none) when needed.
func assign(st *manifest.State, rel Release, rec *manifest.Bundle, res *Result, now time.Time) {
	if st.Versions == nil {
		st.Versions = map[string]manifest.Digest{}
	}
	st.Versions[rec.Version] = rec.ID
	if st.Bundles == nil {
		st.Bundles = map[string]*manifest.Bundle{}
	}
	st.Bundles[rec.ID.String()] = rec
	ch := st.Channels[rel.Channel]
	if ch == nil {
		s := manifest.DefaultSettings()
		if rel.Settings != nil {
			s = *rel.Settings
		}
		ch = CreateChannel(st, rel.Channel, s)
		res.Created = true
		res.Defaults = claimDefaults(st, rel.Channel)
	}
	res.Previous = append([]manifest.Event(nil), ch.History...)
	ch.Target = rec.ID.String()
	ch.History = append(ch.History, manifest.Event{Seq: st.Seq, Time: now.UTC(), Action: "publish",
		Target: ch.Target, Version: rec.Version})
}

// claimDefaults makes channel the default of ios and android when the app
// has no default at all (DESIGN.md: the first channel becomes public).
func claimDefaults(st *manifest.State, channel string) []string {
	if len(st.Defaults) > 0 {
		return nil
	}
	st.Defaults = map[string]string{}
	var got []string
	for _, pl := range []string{manifest.PlatformIOS, manifest.PlatformAndroid} {
		if st.Channels[channel].Settings.Platform(pl) {
			st.Defaults[pl] = channel
			got = append(got, pl)
		}
	}
	return got
}

// CreateChannel adds a channel with settings s and a fresh id to st.
func CreateChannel(st *manifest.State, name string, s manifest.Settings) *manifest.Channel {
	if st.NextChannelID == 0 {
		st.NextChannelID = 1
	}
	ch := &manifest.Channel{ID: st.NextChannelID, Settings: s}
	st.NextChannelID++
	st.Channels[name] = ch
	return ch
}
