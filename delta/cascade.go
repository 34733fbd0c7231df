package delta

import (
	"fmt"
	"path"
	"strings"

	"github.com/capstatic/capstatic/manifest"
)

// Thresholds of the [Cascade] heuristic.
const (
	// CascadeMinFiles is how many renamed, slightly changed files make a
	// cascade.
	CascadeMinFiles = 5
	// cascadeSlack is the size change, in bytes, below which a renamed file
	// counts as slightly changed whatever its size; above it, up to a tenth
	// of the old size is allowed.
	cascadeSlack = 256
	// cascadeExamples is how many renames the detail names.
	cascadeExamples = 3
)

// Cascade reports whether the change from a bundle of oldFiles to one of
// newFiles looks like a content-hash cascade, and if so explains it in
// detail (empty otherwise).
//
// Bundlers name chunks after a hash of their content (app.3f2a1b.js). When
// one module changes, every chunk that imports it changes too, if only in
// the imported name, so it gets a new hash and name, and devices download
// it again. The heuristic:
//
//  1. a file's key is its name without a hash segment: a '.' or '-' followed
//     by 6 or more characters of [0-9A-Za-z_-] just before the extension
//     (app.3f2a1b.js and app.9c8d7e.js share the key app.js);
//  2. a new file is a renamed chunk when its name is not in the old bundle,
//     its content is not either (so the device must download it), an old
//     file with the same key is gone, and the closest such file in size is
//     within max(256 bytes, 10%) of it — "changed only slightly";
//  3. it is a cascade when there are at least [CascadeMinFiles] renamed
//     chunks and they are more than half of the bytes a device on the old
//     bundle downloads.
//
// It is a hint for people, not a rule the publisher enforces.
func Cascade(oldFiles, newFiles []manifest.File) (suspicious bool, detail string) {
	oldNames := make(map[string]bool, len(oldFiles))
	held := make(map[manifest.Digest]bool, len(oldFiles))
	for _, f := range oldFiles {
		oldNames[f.Name] = true
		held[f.SHA256] = true
	}
	newNames := make(map[string]bool, len(newFiles))
	for _, f := range newFiles {
		newNames[f.Name] = true
	}
	gone := make(map[string][]manifest.File) // key → old files no longer present
	for _, f := range oldFiles {
		if k, ok := hashKey(f.Name); ok && !newNames[f.Name] {
			gone[k] = append(gone[k], f)
		}
	}

	var renamed [][2]string
	var renamedBytes int64
	for _, f := range newFiles {
		if oldNames[f.Name] || held[f.SHA256] {
			continue
		}
		k, ok := hashKey(f.Name)
		if !ok {
			continue
		}
		if prev, ok := closest(gone[k], f.Size); ok && slight(prev.Size, f.Size) {
			renamed = append(renamed, [2]string{prev.Name, f.Name})
			renamedBytes += f.Object.Size
		}
	}
	total := Plan(newFiles, func(d manifest.Digest) bool { return held[d] }).Bytes
	if len(renamed) < CascadeMinFiles || renamedBytes*2 <= total {
		return false, ""
	}
	return true, cascadeDetail(renamed, renamedBytes, total)
}

// hashKey returns name with the hash segment of its base name removed, and
// whether there was one.
func hashKey(name string) (string, bool) {
	dir, base := path.Split(name)
	ext := path.Ext(base)
	if len(ext) < 2 || !isWord(ext[1:], false) {
		return "", false
	}
	stem := base[:len(base)-len(ext)]
	for i := 0; i < len(stem); i++ {
		if c := stem[i]; c != '.' && c != '-' {
			continue
		}
		if seg := stem[i+1:]; len(seg) >= 6 && isWord(seg, true) {
			return dir + stem[:i] + ext, true
		}
	}
	return "", false
}

// isWord reports whether s is made of ASCII letters and digits, and of '_'
// and '-' when hash is set.
func isWord(s string, hash bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case hash && (c == '_' || c == '-'):
		default:
			return false
		}
	}
	return true
}

// closest returns the file of files whose size is closest to size.
func closest(files []manifest.File, size int64) (manifest.File, bool) {
	var best manifest.File
	for i, f := range files {
		if i == 0 || absDiff(f.Size, size) < absDiff(best.Size, size) {
			best = f
		}
	}
	return best, len(files) > 0
}

// slight reports whether a file going from size a to size b changed only
// slightly.
func slight(a, b int64) bool {
	return absDiff(a, b) <= max(cascadeSlack, a/10)
}

func absDiff(a, b int64) int64 {
	if a > b {
		return a - b
	}
	return b - a
}

func cascadeDetail(renamed [][2]string, bytes, total int64) string {
	var b strings.Builder
	fmt.Fprintf(&b, "%d files were renamed with a new content hash although they changed only slightly; "+
		"they are %s of the %s a device on the previous bundle downloads (%d%%): ",
		len(renamed), formatBytes(bytes), formatBytes(total), bytes*100/max(total, 1))
	for i, r := range renamed[:min(len(renamed), cascadeExamples)] {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%s → %s", r[0], r[1])
	}
	if n := len(renamed) - cascadeExamples; n > 0 {
		fmt.Fprintf(&b, " and %d more", n)
	}
	b.WriteString(". A change in one module probably changed the names of every chunk importing it; " +
		"bundler settings that keep chunk names stable (an import map, or hashing only a chunk's own content) " +
		"avoid downloading them again.")
	return b.String()
}
