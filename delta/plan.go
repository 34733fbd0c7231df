package delta

import (
	"cmp"
	"fmt"
	"slices"

	"github.com/capstatic/capstatic/manifest"
)

// Download is what a device fetches to install a bundle through its
// manifest (protocol §2.2).
type Download struct {
	// Files are the entries the device has to download, in input order.
	Files []manifest.File
	// Bytes is the sum of their object sizes: the bytes on the wire.
	Bytes int64
	// Reused counts the entries the device already has.
	Reused int
}

// Plan returns what a device downloads to install the bundle made of files,
// given have, which reports whether the device already holds content with
// a given digest. A nil have means it holds nothing.
//
// The plugin looks up every entry by SHA-256 in the app's builtin assets and
// in its cache of previously installed files, and downloads the rest. An
// entry is downloaded once per entry: two entries with the same new content
// are both fetched, as the plugin fetches them in parallel.
func Plan(files []manifest.File, have func(manifest.Digest) bool) Download {
	var d Download
	for _, f := range files {
		if have != nil && have(f.SHA256) {
			d.Reused++
			continue
		}
		d.Files = append(d.Files, f)
		d.Bytes += f.Object.Size
	}
	return d
}

// Cost is what a device that runs Version downloads to reach a new bundle.
type Cost struct {
	Version string
	Download
}

// Report returns the [Cost] of moving to the bundle made of files from each
// earlier version in old (version name → that version's files), newest
// version first: semver order for version names that parse, then the others
// by name.
//
// It assumes a device on an earlier version holds exactly that version's
// files. A device holds more in practice (builtin assets, files of versions
// it installed before), so real downloads can only be smaller.
func Report(files []manifest.File, old map[string][]manifest.File) []Cost {
	costs := make([]Cost, 0, len(old))
	for v, prev := range old {
		held := make(map[manifest.Digest]bool, len(prev))
		for _, f := range prev {
			held[f.SHA256] = true
		}
		costs = append(costs, Cost{Version: v, Download: Plan(files, func(d manifest.Digest) bool { return held[d] })})
	}
	slices.SortFunc(costs, func(a, b Cost) int { return newerFirst(a.Version, b.Version) })
	return costs
}

// newerFirst orders version names: semver names first, newest first, then
// the others by name.
func newerFirst(a, b string) int {
	va, errA := manifest.ParseBundleVersion(a)
	vb, errB := manifest.ParseBundleVersion(b)
	switch {
	case errA == nil && errB == nil:
		if c := vb.Compare(va); c != 0 {
			return c
		}
	case errA == nil:
		return -1
	case errB == nil:
		return 1
	}
	return cmp.Compare(a, b)
}

// formatBytes renders n for humans: "512 B", "3.4 KiB", "12.0 MiB".
func formatBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit && exp < 4; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTP"[exp])
}
