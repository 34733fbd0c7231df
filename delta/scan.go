package delta

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/capstatic/capstatic/manifest"
)

// MaxFiles is the most files [Scan] accepts in one build. Capgo's CLI stops
// at 10 000; the limit is higher so that large builds still publish, and low
// enough to catch a wrong folder (a node_modules tree) before hashing it.
const MaxFiles = 20000

// IndexName is the file every bundle must have at its root: the plugin
// refuses to switch to a bundle without it (protocol §7).
const IndexName = "index.html"

// Errors wrapped by the [FileError] values [Scan] and [Build] return, and
// returned alone when no single file is to blame.
var (
	// ErrNoIndex means the build has no [IndexName] at its root.
	ErrNoIndex = errors.New("no index.html at the root of the build")
	// ErrTooManyFiles means the build has more than [MaxFiles] files.
	ErrTooManyFiles = errors.New("too many files")
	// ErrBadName means a path the plugin would refuse or could not receive
	// intact: empty, "." or ".." segments, a backslash, NUL, or invalid
	// UTF-8 (which the JSON of an update answer cannot carry).
	ErrBadName = errors.New("file name not accepted by the plugin")
	// ErrIrregular means a path that is neither a regular file nor a
	// directory once the file system has resolved it: a device, a pipe, a
	// socket, a dangling symlink or a symlink to a directory.
	ErrIrregular = errors.New("not a regular file")
	// ErrChanged means a file no longer has the size or digest [Scan]
	// recorded for it.
	ErrChanged = errors.New("file changed since it was scanned")
)

// FileError records the file a per-file failure is about. It is shaped like
// [fs.PathError], so a publish of many files can say which one failed.
type FileError struct {
	Op   string // what was being done: "scan", "read", "build"
	Path string // '/'-separated path relative to the build root
	Err  error
}

// Error returns "op path: err".
func (e *FileError) Error() string { return e.Op + " " + e.Path + ": " + e.Err.Error() }

// Unwrap returns the underlying error.
func (e *FileError) Unwrap() error { return e.Err }

// Entry is one file of a web build, as [Scan] found it.
type Entry struct {
	// Name is the '/'-separated path relative to the build root.
	Name string
	// Size and SHA256 describe the file content as read.
	Size   int64
	SHA256 manifest.Digest
}

// Skip reports whether name, a '/'-separated path relative to a build root
// (of a file or a directory), is left out of bundles: any path with a
// segment ".DS_Store", "__MACOSX" or ".git". These are operating-system and
// tooling litter that Capgo's CLI and the plugin's unzip also ignore. The
// publisher applies the same rule to the zip it builds, so the zip and the
// manifest describe the same files.
func Skip(name string) bool {
	for seg := range strings.SplitSeq(name, "/") {
		switch seg {
		case ".DS_Store", "__MACOSX", ".git":
			return true
		}
	}
	return false
}

// validName reports whether name can be a manifest file_name: one the
// plugin accepts (see [manifest.ValidFileName]) and that survives JSON.
func validName(name string) bool {
	return manifest.ValidFileName(name) && !strings.Contains(name, `\`) && utf8.ValidString(name)
}

// Scan walks the web build in fsys and returns its files sorted by name,
// each with its size and SHA-256, leaving out what [Skip] names.
//
// Symbolic links are followed only as far as fsys resolves them on Open
// (os.DirFS does); Scan does not check where they point, which is the
// caller's job. Anything that is not a regular file or directory once
// resolved fails with [ErrIrregular].
//
// Per-file failures are [*FileError] values wrapping [ErrBadName],
// [ErrIrregular] or the read error. A build with more than [MaxFiles] files
// fails with [ErrTooManyFiles], and one without [IndexName] at its root with
// [ErrNoIndex].
func Scan(fsys fs.FS) ([]Entry, error) {
	var entries []Entry
	err := fs.WalkDir(fsys, ".", func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return fileError("scan", name, err)
		}
		if name == "." {
			return nil
		}
		if Skip(name) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if !validName(name) {
			return &FileError{Op: "scan", Path: name, Err: ErrBadName}
		}
		if d.IsDir() {
			return nil
		}
		if len(entries) == MaxFiles {
			return fmt.Errorf("more than %d files: %w", MaxFiles, ErrTooManyFiles)
		}
		e, err := scanFile(fsys, name, d)
		if err != nil {
			return err
		}
		entries = append(entries, e)
		return nil
	})
	if err != nil {
		return nil, err
	}
	// WalkDir visits "a/b" before "a.js" ('/' sorts after '.'), so sort by
	// the full name as the manifest and the zip do.
	slices.SortFunc(entries, func(a, b Entry) int { return strings.Compare(a.Name, b.Name) })
	if _, ok := slices.BinarySearchFunc(entries, IndexName, func(e Entry, n string) int {
		return strings.Compare(e.Name, n)
	}); !ok {
		return nil, ErrNoIndex
	}
	return entries, nil
}

// scanFile hashes the file name, which the walk reported as d.
func scanFile(fsys fs.FS, name string, d fs.DirEntry) (Entry, error) {
	switch {
	case d.Type().IsRegular():
	case d.Type()&fs.ModeSymlink != 0:
		// Stat follows the link where fsys can; a link fsys cannot
		// resolve, or one to a directory (which the walk would not
		// enter), is refused.
		info, err := fs.Stat(fsys, name)
		if err != nil {
			return Entry{}, fileError("scan", name, err)
		}
		if !info.Mode().IsRegular() {
			return Entry{}, &FileError{Op: "scan", Path: name, Err: ErrIrregular}
		}
	default:
		// Never Open a pipe or device: it may block forever.
		return Entry{}, &FileError{Op: "scan", Path: name, Err: ErrIrregular}
	}
	f, err := fsys.Open(name)
	if err != nil {
		return Entry{}, fileError("read", name, err)
	}
	defer f.Close()
	h := manifest.NewHasher()
	if _, err := io.Copy(h, f); err != nil {
		return Entry{}, fileError("read", name, err)
	}
	return Entry{Name: name, Size: h.Size(), SHA256: h.Sum()}, nil
}

// fileError wraps err for path, unwrapping an [fs.PathError] so that the
// path is not repeated.
func fileError(op, path string, err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		op, err = pe.Op, pe.Err
	}
	return &FileError{Op: op, Path: path, Err: err}
}
