package publish

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// HashedETagMax is the largest object whose [Dir] entity tag is the hex
// SHA-256 of its content. Larger objects get a tag made of their size,
// modification time and inode number instead, so that Stat and List do not
// read them: see [Dir.Stat].
const HashedETagMax = 1 << 20

// lockName is the file under a [Dir]'s root that [Dir.Swap] locks. No key
// can name it: keys with a segment starting with "." are refused.
const lockName = ".capstatic.lock"

// Dir is a [Store] over a local folder. Every write goes to a temporary file
// in the destination folder, is synced and then renamed into place, and the
// folders it created are synced too, so a crash leaves either the old object
// or the new one (the pattern of litestream's file replica and restic's
// local backend).
//
// Keys are slash-separated tree paths ([fs.ValidPath], not ".", no
// backslash) none of whose segments starts with ".": such names are the
// store's own (lock and temporary files) or the host's (.git, .nojekyll).
// Errors about an object are [*fs.PathError] values whose Path is the key,
// never the absolute path of the file.
type Dir struct {
	root string
	mu   sync.Mutex // serialises Swap within this process; flock across processes
}

var (
	_ Store   = (*Dir)(nil)
	_ Swapper = (*Dir)(nil)
	_ Lister  = (*Dir)(nil)
)

// NewDir returns a store writing below root, creating it if needed.
func NewDir(root string) (*Dir, error) {
	if err := os.MkdirAll(root, 0o755); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	return &Dir{root: abs}, nil
}

// Root returns the store's folder.
func (d *Dir) Root() string { return d.root }

// validKey reports whether key is a tree path a [Dir] accepts.
func validKey(key string) bool {
	if !fs.ValidPath(key) || key == "." || strings.Contains(key, `\`) {
		return false
	}
	for seg := range strings.SplitSeq(key, "/") {
		if strings.HasPrefix(seg, ".") {
			return false
		}
	}
	return true
}

// path returns the file of key, or an error wrapping [fs.ErrInvalid], or
// ctx's error.
func (d *Dir) path(ctx context.Context, op, key string) (string, error) {
	if !validKey(key) {
		return "", &fs.PathError{Op: op, Path: key, Err: fs.ErrInvalid}
	}
	if err := ctx.Err(); err != nil {
		return "", &fs.PathError{Op: op, Path: key, Err: err}
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// keyError re-states err, from an operation on the file of key, in terms of
// the key: the absolute path is dropped, and ENOTDIR (a parent of the key
// is an object) becomes [fs.ErrNotExist].
func keyError(op, key string, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	}
	if errors.Is(err, syscall.ENOTDIR) {
		err = fs.ErrNotExist
	}
	return &fs.PathError{Op: op, Path: key, Err: err}
}

// Put implements [Store]. It stops with ctx's error when ctx is done while
// r is read, and fails without writing anything when size is not -1 and r
// holds another number of bytes.
func (d *Dir) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p, err := d.path(ctx, "put", key)
	if err != nil {
		return err
	}
	if err := d.writeAtomic(ctx, p, r, size); err != nil {
		return keyError("put", key, err)
	}
	return nil
}

// writeAtomic writes r to a temporary file next to p, syncs it, renames it
// to p and syncs the folder. A concurrent Delete may remove an empty folder
// between its creation and the temporary file's; that is retried.
func (d *Dir) writeAtomic(ctx context.Context, p string, r io.Reader, size int64) error {
	dir := filepath.Dir(p)
	var f *os.File
	for attempt := 0; ; attempt++ {
		if err := d.mkdirs(dir); err != nil {
			return err
		}
		var err error
		if f, err = os.CreateTemp(dir, ".tmp-*"); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) || attempt == 3 {
			return err
		}
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if err := fill(ctx, f, r, size); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	return syncDir(dir)
}

// fill copies r to f, checking ctx between reads and the length against
// size (unless it is -1), and syncs f.
func fill(ctx context.Context, f *os.File, r io.Reader, size int64) error {
	src := io.Reader(ctxReader{ctx, r})
	if size >= 0 {
		src = io.LimitReader(src, size+1)
	}
	n, err := io.Copy(f, src)
	if err != nil {
		return err
	}
	if size >= 0 && n != size {
		return fmt.Errorf("read %d bytes, want %d", n, size)
	}
	return f.Sync()
}

// ctxReader fails with ctx's error once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// mkdirs creates dir and its missing parents below the root, and syncs the
// parent of every folder it creates, so that a file renamed into dir
// survives a crash with its path (a rename is durable only once every
// folder on the path is).
func (d *Dir) mkdirs(dir string) error {
	if st, err := os.Stat(dir); err == nil && st.IsDir() {
		return nil
	}
	rel, err := filepath.Rel(d.root, dir)
	if err != nil || rel == "." {
		return err
	}
	cur := d.root
	for seg := range strings.SplitSeq(rel, string(filepath.Separator)) {
		parent := cur
		cur = filepath.Join(cur, seg)
		if err := os.Mkdir(cur, 0o755); err != nil {
			if st, serr := os.Stat(cur); !errors.Is(err, fs.ErrExist) || serr != nil || !st.IsDir() {
				return err
			}
			continue // there already, or made by a concurrent writer
		}
		if err := syncDir(parent); err != nil {
			return err
		}
	}
	return nil
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Open implements [Store]. A folder, or a key below an object, does not
// exist.
func (d *Dir) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(ctx, "open", key)
	if err != nil {
		return nil, err
	}
	f, _, err := openFile(p)
	if err != nil {
		return nil, keyError("open", key, err)
	}
	return f, nil
}

// openFile opens the regular file p, reporting anything else as missing.
func openFile(p string) (*os.File, fs.FileInfo, error) {
	f, err := os.Open(p)
	if err != nil {
		return nil, nil, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, nil, fs.ErrNotExist
	}
	return f, st, nil
}

// Stat implements [Store]. The ETag of an object of at most
// [HashedETagMax] bytes is the hex SHA-256 of its content: strong, and
// equal across copies of the tree, which is what [Dir.Swap] on a pointer
// needs. A larger object's ETag is "m-" followed by its size, modification
// time in nanoseconds and inode number: every write renames a new file into
// place, so the tag changes with the content, except for a rewrite of the
// same size that lands on a reused inode within one tick of a coarse file
// system clock. Larger objects are immutable, named by digests, and never
// swapped, so that is acceptable; it spares reading them on every Stat.
func (d *Dir) Stat(ctx context.Context, key string) (Info, error) {
	p, err := d.path(ctx, "stat", key)
	if err != nil {
		return Info{}, err
	}
	f, st, err := openFile(p)
	if err != nil {
		return Info{}, keyError("stat", key, err)
	}
	defer f.Close()
	info, err := fileInfo(f, st)
	if err != nil {
		return Info{}, keyError("stat", key, err)
	}
	return info, nil
}

// fileInfo describes the open file f whose metadata is st.
func fileInfo(f io.Reader, st fs.FileInfo) (Info, error) {
	info := Info{Size: st.Size(), ModTime: st.ModTime()}
	if st.Size() > HashedETagMax {
		var ino uint64
		if sys, ok := st.Sys().(*syscall.Stat_t); ok {
			ino = sys.Ino
		}
		info.ETag = "m-" + strconv.FormatInt(st.Size(), 16) + "-" +
			strconv.FormatInt(st.ModTime().UnixNano(), 16) + "-" + strconv.FormatUint(ino, 16)
		return info, nil
	}
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, HashedETagMax+1)); err != nil {
		return Info{}, err
	}
	info.ETag = hex.EncodeToString(h.Sum(nil))
	return info, nil
}

// Delete implements [Store]. It then removes the folders the deletion left
// empty, up to the root.
func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.path(ctx, "delete", key)
	if err != nil {
		return err
	}
	st, err := os.Lstat(p)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return nil
	case err != nil:
		return keyError("delete", key, err)
	case st.IsDir():
		return nil // a folder is not an object
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return keyError("delete", key, err)
	}
	for dir := filepath.Dir(p); dir != d.root && strings.HasPrefix(dir, d.root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty, or gone: either way, stop
		}
	}
	return nil
}

// Swap implements [Swapper]. It holds an exclusive flock on the store's
// lock file while it compares and renames, so two processes publishing to
// one folder cannot both win. It waits for the lock until ctx is done.
func (d *Dir) Swap(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) error {
	p, err := d.path(ctx, "swap", key)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(ctxReader{ctx, r})
	if err == nil && size >= 0 && int64(len(body)) != size {
		err = fmt.Errorf("read %d bytes, want %d", len(body), size)
	}
	if err != nil {
		return &fs.PathError{Op: "swap", Path: key, Err: err}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	unlock, err := d.lock(ctx)
	if err != nil {
		return &fs.PathError{Op: "swap", Path: key, Err: err}
	}
	defer unlock()
	cur, err := d.Stat(ctx, key)
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	case err != nil && ifMatch != "":
		return &fs.PathError{Op: "swap", Path: key, Err: fmt.Errorf("%w: object is gone", ErrConflict)}
	case err == nil && cur.ETag != ifMatch:
		return &fs.PathError{Op: "swap", Path: key, Err: ErrConflict}
	}
	if err := d.writeAtomic(ctx, p, bytes.NewReader(body), int64(len(body))); err != nil {
		return keyError("swap", key, err)
	}
	return nil
}

// lock takes the exclusive flock of the store's lock file, polling so that
// a done ctx ends the wait. The lock file is never removed: removing it
// would let two processes lock two different files.
func (d *Dir) lock(ctx context.Context) (func(), error) {
	f, err := os.OpenFile(filepath.Join(d.root, lockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, keyError("open", lockName, err)
	}
	for wait := time.Millisecond; ; wait = min(2*wait, 50*time.Millisecond) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(wait):
		}
	}
}

// List implements [Lister]. It walks only the folder that holds prefix (for
// "app/bundles/0a" that is app/bundles), skips names starting with "." (the
// store's own files, and the host's such as .git), and reports the same
// ETag as [Dir.Stat], so it reads every object of up to [HashedETagMax]
// bytes. It stops with an error wrapping ctx.Err() once ctx is done.
func (d *Dir) List(ctx context.Context, prefix string, fn func(string, Info) error) error {
	base := prefix[:strings.LastIndex(prefix, "/")+1] // "" or ending in "/"
	start := d.root
	if base != "" {
		if !validKey(strings.TrimSuffix(base, "/")) {
			return nil // no key can start with it
		}
		start = filepath.Join(d.root, filepath.FromSlash(base))
	}
	err := filepath.WalkDir(start, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			if p == start && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if cerr := ctx.Err(); cerr != nil {
			return cerr
		}
		if p == start {
			return nil
		}
		if strings.HasPrefix(e.Name(), ".") {
			if e.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if e.IsDir() {
			// Skip folders that cannot hold a key with the prefix.
			if !strings.HasPrefix(key+"/", prefix) && !strings.HasPrefix(prefix, key+"/") {
				return fs.SkipDir
			}
			return nil
		}
		if !e.Type().IsRegular() || !strings.HasPrefix(key, prefix) {
			return nil
		}
		info, err := d.listInfo(p)
		if errors.Is(err, fs.ErrNotExist) {
			return nil // deleted while we walked
		}
		if err != nil {
			return keyError("list", key, err)
		}
		return fn(key, info)
	})
	if err != nil && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)) {
		return fmt.Errorf("list %q: %w", prefix, err)
	}
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) && strings.HasPrefix(pe.Path, d.root) {
		return keyError("list", path.Clean(filepath.ToSlash(strings.TrimPrefix(pe.Path, d.root+string(filepath.Separator)))), pe.Err)
	}
	return err
}

func (d *Dir) listInfo(p string) (Info, error) {
	f, st, err := openFile(p)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	return fileInfo(f, st)
}
