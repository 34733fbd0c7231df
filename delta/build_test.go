package delta_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/delta"
	"github.com/capstatic/capstatic/manifest"
)

// store is an object store for tests: Put is an emit function, Have an
// Options.Have.
type store struct {
	mu   sync.Mutex
	objs map[string]delta.Object
	puts int
}

func newStore() *store { return &store{objs: map[string]delta.Object{}} }

func (s *store) put(o delta.Object) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.objs[o.Path]; dup {
		return fmt.Errorf("object %s emitted twice", o.Path)
	}
	s.objs[o.Path] = o
	s.puts++
	return nil
}

func (s *store) have(path string) (manifest.Object, bool) {
	o, ok := s.objs[path]
	return o.Record(), ok
}

// build scans fsys and builds it into s.
func build(t *testing.T, fsys fs.FS, s *store, opt delta.Options) []manifest.File {
	t.Helper()
	entries, err := delta.Scan(fsys)
	require.NoError(t, err)
	if opt.App == "" {
		opt.App = testApp
	}
	files, err := delta.Build(context.Background(), fsys, entries, opt, s.put)
	require.NoError(t, err)
	return files
}

// checkFiles verifies every record against the build and the stored objects.
func checkFiles(t *testing.T, fsys fs.FS, s *store, files []manifest.File) {
	t.Helper()
	assert.True(t, slices.IsSortedFunc(files, func(a, b manifest.File) int { return strings.Compare(a.Name, b.Name) }), "sorted by name")
	assert.NoError(t, delta.CheckWireNames(files))
	for _, f := range files {
		data, err := fs.ReadFile(fsys, f.Name)
		require.NoError(t, err)
		assert.Equal(t, manifest.Sum(data), f.SHA256, "content digest of %s", f.Name)
		assert.Equal(t, manifest.FilePath(testApp, f.SHA256, f.Brotli), f.Object.Path, "object path of %s", f.Name)
		o, ok := s.objs[f.Object.Path]
		require.True(t, ok, "object of %s not emitted", f.Name)
		assert.Equal(t, o.Record(), f.Object, "record of %s", f.Name)
		assert.Equal(t, manifest.Sum(o.Data), o.SHA256, "object digest of %s", f.Name)
		if f.Brotli {
			assert.True(t, bytes.Equal(data, goDecode(t, o.Data)), "%s decodes to its content", f.Name)
		} else {
			assert.True(t, bytes.Equal(data, o.Data), "raw object of %s", f.Name)
		}
	}
}

func TestBuild_Republish(t *testing.T) {
	fsys := webBuild(1, 2, 256<<10)
	s := newStore()
	files := build(t, fsys, s, delta.Options{Level: 5, Workers: 3})
	checkFiles(t, fsys, s, files)
	assert.Len(t, files, len(fsys))
	assert.Equal(t, len(s.objs), s.puts)
	brotli := 0
	for _, f := range files {
		if f.Brotli {
			brotli++
		}
		if f.Name == "assets/logo.png" {
			assert.False(t, f.Brotli, "noise is sent raw")
		}
	}
	assert.Equal(t, len(files)-1, brotli, "everything but the image is compressed")

	// The same build again: every object is found, nothing is compressed
	// or emitted, and the records are the same.
	again := newStore()
	files2 := build(t, fsys, again, delta.Options{Level: 5, Have: s.have})
	assert.Zero(t, again.puts)
	assert.Equal(t, files, files2)

	// A new vendor chunk renames every page: only changed content is new.
	next := webBuild(1, 3, 256<<10)
	files3 := build(t, next, s, delta.Options{Level: 5, Have: s.have})
	assert.Equal(t, len(files)+12, len(s.objs), "a vendor chunk and 10 pages and index.html are new")
	checkFiles(t, next, s, files3)
}

func TestBuild_Modes(t *testing.T) {
	css := bytes.Repeat([]byte("body{margin:0}\n"), 100)
	fsys := fstest.MapFS{
		"index.html":     {Data: css},
		"a.css":          {Data: css},         // same content as index.html: same object
		"b.css":          {Data: css},         // raw: "b.css.br" is another file
		"b.css.br":       {Data: css},         // forced, sent as b.css.br.br
		"empty.txt":      {},                  // forced: EmptyStream
		"empty2.txt":     {},                  // raw (empty object): "empty2.txt.br" is another file
		"empty2.txt.br":  {Data: []byte("x")}, // forced
		"tiny.bin":       {Data: []byte{1, 2}},
		"already.js.br":  {Data: []byte{1, 2}},
		"already.js.map": {Data: css},
	}
	s := newStore()
	files := build(t, fsys, s, delta.Options{})
	checkFiles(t, fsys, s, files)
	wire := map[string]string{}
	for _, f := range files {
		wire[f.Name] = f.WireName()
	}
	assert.Equal(t, map[string]string{
		"a.css":          "a.css.br",
		"already.js.br":  "already.js.br.br",
		"already.js.map": "already.js.map.br",
		"b.css":          "b.css",
		"b.css.br":       "b.css.br.br",
		"empty.txt":      "empty.txt.br",
		"empty2.txt":     "empty2.txt",
		"empty2.txt.br":  "empty2.txt.br.br",
		"index.html":     "index.html.br",
		"tiny.bin":       "tiny.bin",
	}, wire)
	emptyObj := s.objs[manifest.FilePath(testApp, manifest.Sum(nil), true)]
	assert.Equal(t, delta.EmptyStream(), emptyObj.Data)
	assert.Len(t, s.objs, 7, "css (br, raw), empty (br, raw), x (br), {1,2} (raw, br)")
}

func TestBuild_Have(t *testing.T) {
	js := jsText(newRand(4), 10_000)
	fsys := fstest.MapFS{"index.html": {Data: js}}
	d := manifest.Sum(js)
	raw := delta.Object{Path: manifest.FilePath(testApp, d, false), Data: js, SHA256: d}

	t.Run("RawReused", func(t *testing.T) {
		s := newStore()
		require.NoError(t, s.put(raw))
		s.puts = 0
		files := build(t, fsys, s, delta.Options{Have: s.have})
		assert.Zero(t, s.puts, "a stored raw object is good enough")
		assert.False(t, files[0].Brotli)
		assert.Equal(t, raw.Record(), files[0].Object)
	})
	t.Run("WrongPath", func(t *testing.T) {
		entries, err := delta.Scan(fsys)
		require.NoError(t, err)
		have := func(string) (manifest.Object, bool) { return raw.Record(), true }
		_, err = delta.Build(context.Background(), fsys, entries, delta.Options{App: testApp, Have: have}, newStore().put)
		assert.ErrorContains(t, err, "returned a record of")
	})
}

func TestBuild_Errors(t *testing.T) {
	fsys := webBuild(8, 9, 64<<10)
	entries, err := delta.Scan(fsys)
	require.NoError(t, err)
	opt := delta.Options{App: testApp, Level: 1}
	emitErr := errors.New("disk full")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	changed := slices.Clone(entries)
	changed[3].Size++

	tests := []struct {
		name    string
		ctx     context.Context
		entries []delta.Entry
		opt     delta.Options
		emit    func(delta.Object) error
		want    error
	}{
		{"ErrChanged", context.Background(), changed, opt, newStore().put, delta.ErrChanged},
		{"Emit", context.Background(), entries, opt, func(delta.Object) error { return emitErr }, emitErr},
		{"Canceled", cancelled, entries, opt, newStore().put, context.Canceled},
		{"Missing", context.Background(), append(slices.Clone(entries), delta.Entry{Name: "zz.js"}), opt, newStore().put, fs.ErrNotExist},
		{"ErrWireName", context.Background(), []delta.Entry{{Name: "x.br"}, {Name: "x.br.br"}}, opt, newStore().put, delta.ErrWireName},
		{"ErrWireName/twice", context.Background(), []delta.Entry{{Name: "x"}, {Name: "x"}}, opt, newStore().put, delta.ErrWireName},
		{"ErrBadName", context.Background(), []delta.Entry{{Name: "../x"}}, opt, newStore().put, delta.ErrBadName},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			files, err := delta.Build(tt.ctx, fsys, tt.entries, tt.opt, tt.emit)
			assert.ErrorIs(t, err, tt.want)
			assert.Nil(t, files)
		})
	}
	t.Run("BadApp", func(t *testing.T) {
		_, err := delta.Build(context.Background(), fsys, entries, delta.Options{App: "../x"}, newStore().put)
		assert.ErrorContains(t, err, "invalid app id")
	})
}

// TestBuild_Large checks that a file above 64 MiB goes through (raw, to
// keep the test fast).
func TestBuild_Large(t *testing.T) {
	if testing.Short() {
		t.Skip("allocates a few hundred MiB")
	}
	big := randomBytes(newRand(10), 65<<20)
	fsys := fstest.MapFS{"index.html": {Data: []byte("<html></html>")}, "big.bin": {Data: big}}
	s := newStore()
	files := build(t, fsys, s, delta.Options{Level: -1, Workers: 2})
	require.Len(t, files, 2)
	assert.Equal(t, int64(len(big)), files[0].Object.Size)
	assert.False(t, files[0].Brotli)
	assert.False(t, files[1].Brotli, "level -1 compresses only forced files")
}

func ExampleBuild() {
	fsys := fstest.MapFS{
		"index.html":    {Data: bytes.Repeat([]byte("<p>hello</p>\n"), 50)},
		"favicon.ico":   {Data: []byte{0, 0, 1, 0}},
		"assets/x.wasm": {},
	}
	entries, err := delta.Scan(fsys)
	if err != nil {
		panic(err)
	}
	files, err := delta.Build(context.Background(), fsys, entries, delta.Options{App: "com.example.app"},
		func(o delta.Object) error { return nil /* store o.Data at o.Path */ })
	if err != nil {
		panic(err)
	}
	for _, f := range files {
		fmt.Printf("%s: %d → %d bytes\n  %s\n", f.WireName(), f.Size, f.Object.Size, f.Object.Path)
	}
	// Output:
	// assets/x.wasm.br: 0 → 1 bytes
	//   com.example.app/files/e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.br
	// favicon.ico: 4 → 4 bytes
	//   com.example.app/files/6b1e73a0094b7b812d3b9e22cffb4f8239319847522c4fa103753b6950020f93
	// index.html.br: 650 → 29 bytes
	//   com.example.app/files/43544c9a84fc22ede6765a0668b5e31cea5e06fbf995a16910271f5473e18afe.br
}
