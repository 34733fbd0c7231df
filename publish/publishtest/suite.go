package publishtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish"
)

// largeSize is the size of the objects of the Large case: more than one
// buffer of any reasonable copy loop, less than one S3 part.
const largeSize = 5 << 20

// TestStore is the conformance suite for [publish.Store] implementations. It
// runs each case as a subtest on a fresh, empty store made by newStore, which
// receives the subtest's t (so a t.TempDir or a per-test key prefix is
// cleaned up with it). The [publish.Swapper] and [publish.Lister] cases run
// only when the store implements those interfaces. The subtests run one
// after the other.
//
// Beyond the [publish.Store] contract, the suite requires what lets any
// store be copied to a directory: keys that are not tree paths (see
// [fs.ValidPath]) are refused, and a failed or cancelled Put leaves the
// previous object in place.
func TestStore(t *testing.T, newStore func(t *testing.T) publish.Store) {
	t.Helper()
	for _, tc := range []struct {
		name string
		fn   func(t *testing.T, s publish.Store)
	}{
		{"RoundTrip", testRoundTrip},
		{"Empty", testEmpty},
		{"Overwrite", testOverwrite},
		{"NotExist", testNotExist},
		{"Delete", testDelete},
		{"Large", testLarge},
		{"NestedKeys", testNestedKeys},
		{"InvalidKey", testInvalidKey},
		{"ETag", testETag},
		{"PutReaderError", testPutReaderError},
		{"PutCancelled", testPutCancelled},
		{"ConcurrentPutOpen", testConcurrentPutOpen},
		{"Swap", testSwap},
		{"List", testList},
	} {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

func testRoundTrip(t *testing.T, s publish.Store) {
	const key, content = "com.example.app/current.json", `{"seq":1}`
	put(t, s, key, content)
	assert.Equal(t, content, read(t, s, key), "Open(%q)", key)
	info, err := s.Stat(t.Context(), key)
	require.NoError(t, err, "Stat(%q)", key)
	assert.Equal(t, int64(len(content)), info.Size, "Stat(%q).Size", key)
	assert.NotEmpty(t, info.ETag, "Stat(%q).ETag", key)
	assert.False(t, info.ModTime.IsZero(), "Stat(%q).ModTime is zero", key)
}

func testEmpty(t *testing.T, s publish.Store) {
	for _, size := range []int64{0, -1} {
		require.NoError(t, s.Put(t.Context(), "empty", strings.NewReader(""), size), "Put(size %d)", size)
		assert.Equal(t, "", read(t, s, "empty"), "Open after Put(size %d)", size)
		info, err := s.Stat(t.Context(), "empty")
		require.NoError(t, err, "Stat after Put(size %d)", size)
		assert.Equal(t, int64(0), info.Size, "Stat after Put(size %d)", size)
	}
}

func testOverwrite(t *testing.T, s publish.Store) {
	const key = "app/current.json"
	put(t, s, key, "the first, longer content")
	put(t, s, key, "second")
	assert.Equal(t, "second", read(t, s, key), "Open(%q) after overwrite", key)
	info, err := s.Stat(t.Context(), key)
	require.NoError(t, err)
	assert.Equal(t, int64(len("second")), info.Size, "Stat(%q).Size after overwrite", key)
}

func testNotExist(t *testing.T, s publish.Store) {
	put(t, s, "app/present.json", "x")
	for _, key := range []string{"missing", "app/missing.json", "nowhere/deep/missing.json"} {
		rc, err := s.Open(t.Context(), key)
		if err == nil {
			rc.Close()
		}
		assert.ErrorIs(t, err, fs.ErrNotExist, "Open(%q)", key)
		_, err = s.Stat(t.Context(), key)
		assert.ErrorIs(t, err, fs.ErrNotExist, "Stat(%q)", key)
	}
}

func testDelete(t *testing.T, s publish.Store) {
	const key = "app/states/old.json"
	put(t, s, key, "old")
	require.NoError(t, s.Delete(t.Context(), key), "Delete(%q)", key)
	_, err := s.Stat(t.Context(), key)
	assert.ErrorIs(t, err, fs.ErrNotExist, "Stat(%q) after Delete", key)
	assert.NoError(t, s.Delete(t.Context(), key), "Delete(%q) again", key)
	assert.NoError(t, s.Delete(t.Context(), "never/written"), "Delete of a key never written")
}

// testLarge streams an object through readers that hide io.Seeker and
// io.ReaderAt, so a store cannot rewind them, with the size unknown and
// known, and through a seekable reader.
func testLarge(t *testing.T, s publish.Store) {
	data := randomBytes(largeSize, 1)
	for _, tc := range []struct {
		name string
		r    func() io.Reader
		size int64
	}{
		{"UnknownSize", func() io.Reader { return onlyReader{bytes.NewReader(data)} }, -1},
		{"KnownSize", func() io.Reader { return onlyReader{bytes.NewReader(data)} }, int64(len(data))},
		{"Seekable", func() io.Reader { return bytes.NewReader(data) }, int64(len(data))},
	} {
		t.Run(tc.name, func(t *testing.T) {
			key := "app/bundles/large-" + tc.name + ".zip"
			require.NoError(t, s.Put(t.Context(), key, tc.r(), tc.size), "Put(%q)", key)
			got := readBytes(t, s, key)
			assert.Equal(t, len(data), len(got), "length of Open(%q)", key)
			assert.Equal(t, sha256.Sum256(data), sha256.Sum256(got), "sha256 of Open(%q)", key)
			info, err := s.Stat(t.Context(), key)
			require.NoError(t, err, "Stat(%q)", key)
			assert.Equal(t, int64(len(data)), info.Size, "Stat(%q).Size", key)
		})
	}
}

func testNestedKeys(t *testing.T, s publish.Store) {
	keys := []string{
		"index.json",
		"com.example.app/current.json",
		"com.example.app/states/0a1b.json",
		"com.example.app/bundles/0a1b/bundle.json",
		"com.example.app/bundles/0a1b/bundle-ff00.zip",
		"com.example.app/files/0a1b/c2d3.br",
	}
	for _, k := range keys {
		put(t, s, k, "content of "+k)
	}
	for _, k := range keys {
		assert.Equal(t, "content of "+k, read(t, s, k), "Open(%q)", k)
	}
}

// testInvalidKey checks that a store refuses keys that are not tree paths,
// so that whatever one store accepts can be copied to a directory.
func testInvalidKey(t *testing.T, s publish.Store) {
	for _, key := range []string{"", ".", "/abs", "../up", "a/../b", "a/./b", "a//b", "dir/", `a\b`} {
		assert.Error(t, s.Put(t.Context(), key, strings.NewReader("x"), 1), "Put(%q)", key)
		_, err := s.Stat(t.Context(), key)
		assert.Error(t, err, "Stat(%q)", key)
		rc, err := s.Open(t.Context(), key)
		if err == nil {
			rc.Close()
		}
		assert.Error(t, err, "Open(%q)", key)
		assert.Error(t, s.Delete(t.Context(), key), "Delete(%q)", key)
	}
}

func testETag(t *testing.T, s publish.Store) {
	const key = "app/current.json"
	put(t, s, key, "one")
	first := stat(t, s, key)
	assert.Equal(t, first.ETag, stat(t, s, key).ETag, "ETag of unchanged object")
	put(t, s, key, "two")
	second := stat(t, s, key)
	assert.NotEqual(t, first.ETag, second.ETag, "ETag after content changed")
	put(t, s, "app/other.json", "one")
	assert.Equal(t, second.ETag, stat(t, s, key).ETag, "ETag after writing another key")
}

// testPutReaderError checks that a Put whose reader fails returns the
// reader's error and leaves the previous object in place.
func testPutReaderError(t *testing.T, s publish.Store) {
	const key = "app/current.json"
	errRead := errors.New("publishtest: read failed")
	put(t, s, key, "old")
	for _, size := range []int64{-1, 100} {
		r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(errRead))
		err := s.Put(t.Context(), key, r, size)
		assert.ErrorIs(t, err, errRead, "Put(size %d) with a failing reader", size)
		assert.Equal(t, "old", read(t, s, key), "Open after a failed Put(size %d)", size)
	}
}

func testPutCancelled(t *testing.T, s publish.Store) {
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	err := s.Put(ctx, "app/cancelled.json", strings.NewReader("x"), 1)
	assert.ErrorIs(t, err, context.Canceled, "Put with a cancelled context")
	_, err = s.Stat(t.Context(), "app/cancelled.json")
	assert.ErrorIs(t, err, fs.ErrNotExist, "Stat after a cancelled Put")
}

// testConcurrentPutOpen checks that readers racing writers of one key see
// one whole version or another, never a mixture or a partial object.
func testConcurrentPutOpen(t *testing.T, s publish.Store) {
	const key, writers, readers, rounds = "app/current.json", 2, 4, 8
	versions := []string{strings.Repeat("a", 64<<10), strings.Repeat("b", 96<<10)}
	put(t, s, key, versions[0])
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range rounds {
				v := versions[(w+i)%len(versions)]
				assert.NoError(t, s.Put(t.Context(), key, strings.NewReader(v), int64(len(v))), "concurrent Put")
			}
		})
	}
	for range readers {
		wg.Go(func() {
			for range rounds {
				got, err := readErr(t.Context(), s, key)
				if assert.NoError(t, err, "concurrent Open") {
					assert.Contains(t, versions, string(got), "concurrent Open saw a mixed or partial object (len %d)", len(got))
				}
			}
		})
	}
	wg.Wait()
}

// onlyReader hides every method of its reader but Read.
type onlyReader struct{ r io.Reader }

func (o onlyReader) Read(p []byte) (int, error) { return o.r.Read(p) }

// randomBytes returns n bytes that do not compress, the same for a seed.
func randomBytes(n int, seed byte) []byte {
	b := make([]byte, n)
	_, _ = rand.NewChaCha8([32]byte{seed}).Read(b)
	return b
}

func put(t *testing.T, s publish.Store, key, content string) {
	t.Helper()
	require.NoError(t, s.Put(t.Context(), key, strings.NewReader(content), int64(len(content))), "Put(%q)", key)
}

func stat(t *testing.T, s publish.Store, key string) publish.Info {
	t.Helper()
	info, err := s.Stat(t.Context(), key)
	require.NoError(t, err, "Stat(%q)", key)
	return info
}

func read(t *testing.T, s publish.Store, key string) string {
	t.Helper()
	return string(readBytes(t, s, key))
}

func readBytes(t *testing.T, s publish.Store, key string) []byte {
	t.Helper()
	b, err := readErr(t.Context(), s, key)
	require.NoError(t, err, "Open(%q)", key)
	return b
}

func readErr(ctx context.Context, s publish.Store, key string) ([]byte, error) {
	rc, err := s.Open(ctx, key)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}
