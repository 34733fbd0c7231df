// Package publishtest provides an in-memory [publish.Store] and the
// conformance suite every store must pass, in the manner of net/http/httptest
// and testing/fstest (and restic's backend test suite).
package publishtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/capstatic/capstatic/publish"
)

// Memory is a [publish.Store] held in memory, with [publish.Swapper] and
// [publish.Lister]. It stands in for a real store in tests of code that
// publishes. Its ETag is the hex SHA-256 of the content, as for
// [publish.Dir]. It accepts the same keys as [publish.Dir]: slash-separated
// paths that [fs.ValidPath] accepts, other than ".", without backslashes.
//
// A Memory is safe for concurrent use. The zero value is not usable; call
// [NewMemory].
type Memory struct {
	mu      sync.Mutex
	objects map[string]memObject
}

// memObject is one stored object. Its data is never modified after it is
// stored, so readers share it without copying.
type memObject struct {
	data    []byte
	etag    string
	modTime time.Time
}

var (
	_ publish.Store   = (*Memory)(nil)
	_ publish.Swapper = (*Memory)(nil)
	_ publish.Lister  = (*Memory)(nil)
)

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{objects: make(map[string]memObject)}
}

// Put implements [publish.Store]. It reads r to the end before storing, so a
// concurrent reader sees the old bytes or the new ones. It returns an error,
// and stores nothing, if ctx is done, if reading r fails, or if size is not
// -1 and differs from the number of bytes read.
func (m *Memory) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	obj, err := m.read(ctx, "put", key, r, size)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects[key] = obj
	return nil
}

// read validates key and reads r into a new object.
func (m *Memory) read(ctx context.Context, op, key string, r io.Reader, size int64) (memObject, error) {
	if err := checkKey(op, key); err != nil {
		return memObject{}, err
	}
	if err := ctx.Err(); err != nil {
		return memObject{}, &fs.PathError{Op: op, Path: key, Err: err}
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return memObject{}, &fs.PathError{Op: op, Path: key, Err: err}
	}
	if size >= 0 && int64(len(data)) != size {
		return memObject{}, &fs.PathError{Op: op, Path: key,
			Err: fmt.Errorf("read %d bytes, want %d", len(data), size)}
	}
	// Checked again so that a context cancelled while r was read aborts the
	// write, as a network store's would.
	if err := ctx.Err(); err != nil {
		return memObject{}, &fs.PathError{Op: op, Path: key, Err: err}
	}
	sum := sha256.Sum256(data)
	return memObject{data: data, etag: hex.EncodeToString(sum[:]), modTime: time.Now()}, nil
}

// Open implements [publish.Store]. A missing object is an error wrapping
// [fs.ErrNotExist].
func (m *Memory) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	obj, err := m.get(ctx, "open", key)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(obj.data)), nil
}

// Stat implements [publish.Store]. A missing object is an error wrapping
// [fs.ErrNotExist].
func (m *Memory) Stat(ctx context.Context, key string) (publish.Info, error) {
	obj, err := m.get(ctx, "stat", key)
	if err != nil {
		return publish.Info{}, err
	}
	return obj.info(), nil
}

func (m *Memory) get(ctx context.Context, op, key string) (memObject, error) {
	if err := checkKey(op, key); err != nil {
		return memObject{}, err
	}
	if err := ctx.Err(); err != nil {
		return memObject{}, &fs.PathError{Op: op, Path: key, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	obj, ok := m.objects[key]
	if !ok {
		return memObject{}, &fs.PathError{Op: op, Path: key, Err: fs.ErrNotExist}
	}
	return obj, nil
}

func (o memObject) info() publish.Info {
	return publish.Info{Size: int64(len(o.data)), ETag: o.etag, ModTime: o.modTime}
}

// Delete implements [publish.Store]. Deleting a missing object is not an
// error.
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := checkKey("delete", key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return &fs.PathError{Op: "delete", Path: key, Err: err}
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.objects, key)
	return nil
}

// Swap implements [publish.Swapper]. It reads r before comparing, then
// compares and writes atomically under the store's lock. A mismatch is an
// error wrapping [publish.ErrConflict], and nothing is written.
func (m *Memory) Swap(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) error {
	obj, err := m.read(ctx, "swap", key, r, size)
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	cur, ok := m.objects[key]
	switch {
	case !ok && ifMatch != "":
		return &fs.PathError{Op: "swap", Path: key, Err: fmt.Errorf("%w: object is gone", publish.ErrConflict)}
	case ok && cur.etag != ifMatch:
		return &fs.PathError{Op: "swap", Path: key, Err: publish.ErrConflict}
	}
	m.objects[key] = obj
	return nil
}

// List implements [publish.Lister]. It calls fn on a snapshot taken when
// List starts, without holding the store's lock, so fn may use the store.
// It stops when ctx is done, returning an error wrapping ctx.Err().
func (m *Memory) List(ctx context.Context, prefix string, fn func(key string, info publish.Info) error) error {
	m.mu.Lock()
	keys := make([]string, 0, len(m.objects))
	infos := make([]publish.Info, 0, len(m.objects))
	for k, obj := range m.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
			infos = append(infos, obj.info())
		}
	}
	m.mu.Unlock()
	for i, k := range keys {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %q: %w", prefix, err)
		}
		if err := fn(k, infos[i]); err != nil {
			return err
		}
	}
	return nil
}

// checkKey applies the key rule of [publish.Dir], so that whatever Memory
// accepts can also be written to a directory.
func checkKey(op, key string) error {
	if !fs.ValidPath(key) || key == "." || strings.Contains(key, `\`) {
		return &fs.PathError{Op: op, Path: key, Err: fs.ErrInvalid}
	}
	return nil
}
