package publish_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/publishtest"
)

func TestDir(t *testing.T) {
	publishtest.TestStore(t, func(t *testing.T) publish.Store {
		d, err := publish.NewDir(t.TempDir())
		require.NoError(t, err)
		return d
	})
}

func newDir(t *testing.T) (*publish.Dir, string) {
	t.Helper()
	root := t.TempDir()
	d, err := publish.NewDir(root)
	require.NoError(t, err)
	return d, root
}

func putString(t *testing.T, d *publish.Dir, key, s string) {
	t.Helper()
	require.NoError(t, d.Put(t.Context(), key, strings.NewReader(s), int64(len(s))), "Put(%q)", key)
}

// TestDir_Cancelled checks that every operation honours a done context.
func TestDir_Cancelled(t *testing.T) {
	d, _ := newDir(t)
	putString(t, d, "app/current.json", "v1")
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := d.Open(ctx, "app/current.json")
	assert.ErrorIs(t, err, context.Canceled, "Open")
	_, err = d.Stat(ctx, "app/current.json")
	assert.ErrorIs(t, err, context.Canceled, "Stat")
	assert.ErrorIs(t, d.Delete(ctx, "app/current.json"), context.Canceled, "Delete")
	assert.ErrorIs(t, d.Swap(ctx, "app/current.json", strings.NewReader("v2"), 2, ""), context.Canceled, "Swap")
	err = d.List(ctx, "", func(string, publish.Info) error { return nil })
	assert.ErrorIs(t, err, context.Canceled, "List")
	b, err := os.ReadFile(filepath.Join(d.Root(), "app", "current.json"))
	require.NoError(t, err)
	assert.Equal(t, "v1", string(b), "object after cancelled calls")
}

// TestDir_PutCancelledWhileReading checks that a context done in the middle
// of a copy stops it and writes nothing.
func TestDir_PutCancelledWhileReading(t *testing.T) {
	d, root := newDir(t)
	ctx, cancel := context.WithCancel(t.Context())
	r := &cancelAfter{n: 3, cancel: cancel, data: bytes.Repeat([]byte("x"), 1<<20)}
	err := d.Put(ctx, "app/big.zip", r, -1)
	assert.ErrorIs(t, err, context.Canceled, "Put cancelled while reading")
	assert.Empty(t, files(t, root), "files after a cancelled Put")
}

type cancelAfter struct {
	n      int
	cancel func()
	data   []byte
}

func (c *cancelAfter) Read(p []byte) (int, error) {
	c.n--
	if c.n == 0 {
		c.cancel()
	}
	return copy(p, c.data), nil
}

// files lists the regular files under root other than the lock file.
func files(t *testing.T, root string) []string {
	t.Helper()
	var got []string
	require.NoError(t, filepath.WalkDir(root, func(p string, e fs.DirEntry, err error) error {
		if err == nil && !e.IsDir() && e.Name() != ".capstatic.lock" {
			rel, _ := filepath.Rel(root, p)
			got = append(got, filepath.ToSlash(rel))
		}
		return err
	}))
	return got
}

// TestDir_NotExist checks that folders and keys below an object are
// missing objects, and that errors name keys, not the folder on disk.
func TestDir_NotExist(t *testing.T) {
	d, root := newDir(t)
	putString(t, d, "app/x", "an object")
	for _, key := range []string{"app", "app/x/y", "app/x/y/z"} {
		_, err := d.Open(t.Context(), key)
		assert.ErrorIs(t, err, fs.ErrNotExist, "Open(%q)", key)
		_, err = d.Stat(t.Context(), key)
		assert.ErrorIs(t, err, fs.ErrNotExist, "Stat(%q)", key)
		if assert.Error(t, err) {
			assert.NotContains(t, err.Error(), root, "Stat(%q) error names the folder on disk", key)
		}
		assert.NoError(t, d.Delete(t.Context(), key), "Delete(%q)", key)
	}
	_, err := d.Stat(t.Context(), "app/x")
	assert.NoError(t, err, "object after deleting keys around it")
}

// TestDir_DotKeys checks that keys with a segment starting with "." are
// refused, so that no key can reach the lock file or a host's files.
func TestDir_DotKeys(t *testing.T) {
	d, root := newDir(t)
	putString(t, d, "app/current.json", "v1")
	etag, err := d.Stat(t.Context(), "app/current.json")
	require.NoError(t, err)
	require.NoError(t, d.Swap(t.Context(), "app/current.json", strings.NewReader("v2"), 2, etag.ETag))
	lock, err := os.ReadFile(filepath.Join(root, ".capstatic.lock"))
	require.NoError(t, err, "the lock file exists after a Swap")
	for _, key := range []string{".capstatic.lock", ".nojekyll", ".git/config", "app/.tmp-1", "app/.x/y"} {
		assert.ErrorIs(t, d.Put(t.Context(), key, strings.NewReader("x"), 1), fs.ErrInvalid, "Put(%q)", key)
		_, err := d.Stat(t.Context(), key)
		assert.ErrorIs(t, err, fs.ErrInvalid, "Stat(%q)", key)
		assert.ErrorIs(t, d.Delete(t.Context(), key), fs.ErrInvalid, "Delete(%q)", key)
	}
	after, err := os.ReadFile(filepath.Join(root, ".capstatic.lock"))
	require.NoError(t, err)
	assert.Equal(t, lock, after, "lock file after refused writes")
}

// TestDir_PutSize checks that a Put whose reader does not hold size bytes
// fails and writes nothing.
func TestDir_PutSize(t *testing.T) {
	d, root := newDir(t)
	for _, size := range []int64{3, 5} {
		err := d.Put(t.Context(), "app/obj", strings.NewReader("four"), size)
		assert.Error(t, err, "Put of 4 bytes with size %d", size)
	}
	assert.Empty(t, files(t, root), "files after failed Puts")
	putString(t, d, "app/obj", "four")
}

// TestDir_ETag checks both kinds of entity tag: the content's SHA-256 up to
// HashedETagMax bytes, a metadata tag above, and that List reports the
// same tags as Stat.
func TestDir_ETag(t *testing.T) {
	d, _ := newDir(t)
	small := bytes.Repeat([]byte("s"), publish.HashedETagMax)
	large := bytes.Repeat([]byte("l"), publish.HashedETagMax+1)
	require.NoError(t, d.Put(t.Context(), "app/small", bytes.NewReader(small), -1))
	require.NoError(t, d.Put(t.Context(), "app/large", bytes.NewReader(large), -1))
	sum := sha256.Sum256(small)
	info, err := d.Stat(t.Context(), "app/small")
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(sum[:]), info.ETag, "ETag of a %d-byte object", len(small))
	first, err := d.Stat(t.Context(), "app/large")
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(first.ETag, "m-"), "ETag %q of a large object", first.ETag)
	require.NoError(t, d.Put(t.Context(), "app/large", bytes.NewReader(large[1:]), -1))
	second, err := d.Stat(t.Context(), "app/large")
	require.NoError(t, err)
	assert.NotEqual(t, first.ETag, second.ETag, "ETag of a large object after a rewrite")

	listed := map[string]publish.Info{}
	require.NoError(t, d.List(t.Context(), "app/", func(k string, i publish.Info) error { listed[k] = i; return nil }))
	assert.Equal(t, info.ETag, listed["app/small"].ETag, "List ETag of app/small")
	assert.Equal(t, second.ETag, listed["app/large"].ETag, "List ETag of app/large")
}

// TestDir_DeletePrunesFolders checks that Delete removes the folders it
// empties, up to but not including the root.
func TestDir_DeletePrunesFolders(t *testing.T) {
	d, root := newDir(t)
	putString(t, d, "app/bundles/0a/bundle.zip", "zip")
	putString(t, d, "app/current.json", "ptr")
	require.NoError(t, d.Delete(t.Context(), "app/bundles/0a/bundle.zip"))
	_, err := os.Stat(filepath.Join(root, "app", "bundles"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "app/bundles after deleting its only object")
	require.NoError(t, d.Delete(t.Context(), "app/current.json"))
	_, err = os.Stat(filepath.Join(root, "app"))
	assert.ErrorIs(t, err, fs.ErrNotExist, "app after deleting its last object")
	_, err = os.Stat(root)
	assert.NoError(t, err, "the root stays")
	putString(t, d, "app/bundles/0a/bundle.zip", "zip again")
}

// TestDir_ListSkipsHostFiles checks that List reports neither the store's
// own files nor dot files and folders of the host (a .git checkout).
func TestDir_ListSkipsHostFiles(t *testing.T) {
	d, root := newDir(t)
	putString(t, d, "index.json", "{}")
	for _, p := range []string{".nojekyll", ".git/HEAD", "app/.tmp-123"} {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(root, p)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(root, p), []byte("x"), 0o644))
	}
	var keys []string
	require.NoError(t, d.List(t.Context(), "", func(k string, _ publish.Info) error { keys = append(keys, k); return nil }))
	assert.Equal(t, []string{"index.json"}, keys)
}
