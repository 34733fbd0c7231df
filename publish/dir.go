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
	"path/filepath"
	"strings"
	"sync"
	"syscall"
)

// Dir is a [Store] over a local folder. Every write goes to a temporary file
// in the destination folder, is synced and then renamed into place, so a
// crash leaves either the old object or the new one (the pattern of
// litestream's file replica and restic's local backend).
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

func (d *Dir) path(key string) (string, error) {
	if !fs.ValidPath(key) || key == "." || strings.Contains(key, "\\") {
		return "", fmt.Errorf("invalid key %q", key)
	}
	return filepath.Join(d.root, filepath.FromSlash(key)), nil
}

// Put implements [Store].
func (d *Dir) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return writeAtomic(p, r)
}

func writeAtomic(p string, r io.Reader) error {
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	if _, err := io.Copy(f, r); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", filepath.Base(p), err)
	}
	if err := f.Sync(); err != nil {
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
	if err := os.Rename(tmp, p); err != nil {
		return err
	}
	return syncDir(dir)
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// Open implements [Store].
func (d *Dir) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	p, err := d.path(key)
	if err != nil {
		return nil, err
	}
	return os.Open(p)
}

// Stat implements [Store]. The ETag is the hex SHA-256 of the content, so it
// is strong and equal across copies of the tree.
func (d *Dir) Stat(ctx context.Context, key string) (Info, error) {
	p, err := d.path(key)
	if err != nil {
		return Info{}, err
	}
	f, err := os.Open(p)
	if err != nil {
		return Info{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return Info{}, err
	}
	if st.IsDir() {
		return Info{}, fmt.Errorf("stat %s: %w", key, fs.ErrNotExist)
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return Info{}, err
	}
	return Info{Size: st.Size(), ETag: hex.EncodeToString(h.Sum(nil)), ModTime: st.ModTime()}, nil
}

// Delete implements [Store].
func (d *Dir) Delete(ctx context.Context, key string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !os.IsNotExist(err) {
		return err
	}
	return nil
}

// Swap implements [Swapper]. It holds an exclusive flock on the store's
// lock file while it compares and renames, so two processes publishing to
// one folder cannot both win.
func (d *Dir) Swap(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) error {
	p, err := d.path(key)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	unlock, err := d.lock()
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := d.Stat(ctx, key)
	switch {
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	case err != nil && ifMatch != "":
		return fmt.Errorf("swap %s: %w: object is gone", key, ErrConflict)
	case err == nil && cur.ETag != ifMatch:
		return fmt.Errorf("swap %s: %w", key, ErrConflict)
	}
	return writeAtomic(p, bytes.NewReader(body))
}

func (d *Dir) lock() (func(), error) {
	f, err := os.OpenFile(filepath.Join(d.root, ".capstatic.lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, err
	}
	return func() { syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// List implements [Lister]. Temporary and lock files are skipped.
func (d *Dir) List(ctx context.Context, prefix string, fn func(string, Info) error) error {
	return filepath.WalkDir(d.root, func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			return nil
		}
		rel, err := filepath.Rel(d.root, p)
		if err != nil {
			return err
		}
		key := filepath.ToSlash(rel)
		if !strings.HasPrefix(key, prefix) {
			return nil
		}
		st, err := e.Info()
		if err != nil {
			return err
		}
		return fn(key, Info{Size: st.Size(), ModTime: st.ModTime()})
	})
}
