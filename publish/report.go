package publish

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"

	"github.com/capstatic/capstatic/delta"
	"github.com/capstatic/capstatic/manifest"
)

// ReportVersions is how many distinct earlier versions of a channel
// [Publisher.DeltaReport] covers, the most recently offered ones.
const ReportVersions = 10

// EncryptedNote is what a delta report says about an encrypted bundle.
// Every encrypted publish draws a new AES key and IV (see encrypt.go), so
// its delta objects are new objects that no other version shares, and its
// record keeps only wrapped file hashes, from which the report cannot tell
// which files a device already holds.
const EncryptedNote = "encrypted: per-bundle delta objects, no cross-version reuse"

// CascadeHint is the advice that goes with a hash-cascade warning.
const CascadeHint = "many renamed chunks with tiny content changes inflate the download: " +
	"configure your bundler for stable chunk names (e.g. Vite build.rollupOptions.output.chunkFileNames / " +
	"manualChunks, webpack optimization.moduleIds: 'deterministic')"

// DeltaReport tells the people publishing a bundle what devices download to
// install it through its manifest (the protocol's file list, §2), compared
// with the whole zip.
type DeltaReport struct {
	// Version is the published bundle's version; Files counts its entries
	// and Zip is the size of its clear zip, what a device without manifest
	// support downloads.
	Version string
	Files   int
	Zip     int64
	// Encrypted means the bundle has no clear delta set: Rows and Cascade
	// are empty and [EncryptedNote] is all there is to say.
	Encrypted bool
	// Rows are the costs, see [DeltaRow] for their order.
	Rows []DeltaRow
	// Cascade is set when the change from the version the channel offered
	// just before looks like a hash cascade (see [delta.Cascade]).
	Cascade *CascadeWarning
	// Missing lists versions of the history whose bundle record is gone
	// from the store; they have no row.
	Missing []string
}

// DeltaRow is what a device in one situation downloads to install the
// bundle through its manifest, assuming it holds exactly the files of
// From (see [delta.Report]): real devices hold more, so real downloads can
// only be smaller.
//
// A report lists, in this order: earlier versions of the channel (newest
// version first); then [manifest.Builtin], a device running the assets
// shipped inside the app and nothing cached; then From "", a device
// holding none of the files.
type DeltaRow struct {
	// From is the version the device runs, [manifest.Builtin], or "".
	From string
	// Like is, for the builtin row, the version that stands for the
	// builtin assets: the channel's first bundle. Capstatic does not know
	// what an app binary carries; an app is usually released to the stores
	// with the web build it first published, so that bundle is the best
	// guess. There is no builtin row when the channel had no bundle before
	// this one.
	Like string
	// Unknown means From's bundle is encrypted, so which files it holds is
	// not recorded and the other fields are zero.
	Unknown bool
	// Download is the number of entries to download and their bytes on the
	// wire; Reused counts the entries the device already holds.
	Download int
	Bytes    int64
	Reused   int
}

// CascadeWarning is a suspected hash cascade between the version a channel
// offered before a publish and the new bundle.
type CascadeWarning struct {
	From   string
	Detail string // from [delta.Cascade]
}

// DeltaReport returns the delta report of res, the result of publishing a
// bundle of app. Its versions are those of res.Previous, the channel's
// history before the publish, whose bundle records it reads from the store;
// a publish that changed no channel has only the row of a device holding
// nothing.
func (p *Publisher) DeltaReport(ctx context.Context, app string, res *Result) (*DeltaReport, error) {
	b := res.Bundle
	r := &DeltaReport{Version: b.Version, Files: len(b.Files), Zip: b.Size, Encrypted: b.Encrypted()}
	if r.Encrypted {
		return r, nil
	}
	earlier, first, last := reportTargets(res.Previous, b.ID)
	recs := map[manifest.Digest]*manifest.Bundle{}
	for _, id := range slices.Concat(earlier, []manifest.Digest{first}) {
		if _, done := recs[id]; done || id == (manifest.Digest{}) {
			continue
		}
		rec, err := p.readRecord(ctx, app, id)
		if errors.Is(err, fs.ErrNotExist) {
			recs[id] = nil
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("delta report: %w", err)
		}
		recs[id] = rec
	}
	r.Rows = versionRows(b.Files, earlier, recs, r)
	switch rec := recs[first]; {
	case rec == nil:
	case rec.Encrypted():
		r.Rows = append(r.Rows, DeltaRow{From: manifest.Builtin, Like: rec.Version, Unknown: true})
	default:
		r.Rows = append(r.Rows, costRow(b.Files, rec.Files, manifest.Builtin, rec.Version))
	}
	r.Rows = append(r.Rows, costRow(b.Files, nil, "", ""))
	if prev := recs[last]; prev != nil && !prev.Encrypted() {
		if ok, detail := delta.Cascade(prev.Files, b.Files); ok {
			r.Cascade = &CascadeWarning{From: prev.Version, Detail: detail}
		}
	}
	return r, nil
}

// reportTargets returns the bundle ids history offered other than self:
// up to [ReportVersions] distinct ones, most recent first, the first one
// ever offered, and the last one (the zero digest when there is none).
func reportTargets(history []manifest.Event, self manifest.Digest) (earlier []manifest.Digest, first, last manifest.Digest) {
	seen := map[manifest.Digest]bool{}
	for i := len(history) - 1; i >= 0; i-- {
		id, err := manifest.ParseDigest(history[i].Target)
		if err != nil || id == self { // "" or builtin: no bundle
			continue
		}
		if len(seen) == 0 {
			last = id
		}
		first = id
		if !seen[id] && len(earlier) < ReportVersions {
			earlier = append(earlier, id)
		}
		seen[id] = true
	}
	return earlier, first, last
}

// versionRows returns the rows of the earlier versions ids, newest version
// first, encrypted ones last, and notes the missing ones in r.
func versionRows(files []manifest.File, ids []manifest.Digest, recs map[manifest.Digest]*manifest.Bundle, r *DeltaReport) []DeltaRow {
	old := map[string][]manifest.File{}
	var rows, unknown []DeltaRow
	for _, id := range ids {
		switch rec := recs[id]; {
		case rec == nil:
			r.Missing = append(r.Missing, id.String())
		case rec.Encrypted():
			unknown = append(unknown, DeltaRow{From: rec.Version, Unknown: true})
		default:
			old[rec.Version] = rec.Files
		}
	}
	for _, c := range delta.Report(files, old) {
		rows = append(rows, DeltaRow{From: c.Version, Download: len(c.Files), Bytes: c.Bytes, Reused: c.Reused})
	}
	return append(rows, unknown...)
}

// costRow returns the row of a device holding the contents of have.
func costRow(files, have []manifest.File, from, like string) DeltaRow {
	held := make(map[manifest.Digest]bool, len(have))
	for _, f := range have {
		held[f.SHA256] = true
	}
	d := delta.Plan(files, func(d manifest.Digest) bool { return held[d] })
	return DeltaRow{From: from, Like: like, Download: len(d.Files), Bytes: d.Bytes, Reused: d.Reused}
}

// readRecord reads the stored record of bundle id of app.
func (p *Publisher) readRecord(ctx context.Context, app string, id manifest.Digest) (*manifest.Bundle, error) {
	raw, err := readAll(ctx, p.Store, manifest.BundleRecordPath(app, id), manifest.MaxBundleSize)
	if err != nil {
		return nil, err
	}
	b, err := manifest.DecodeBundle(app, raw)
	if err != nil {
		return nil, err
	}
	if b.ID != id {
		return nil, fmt.Errorf("bundle record %s of %s: %w", id, app, manifest.ErrDigestMismatch)
	}
	return b, nil
}
