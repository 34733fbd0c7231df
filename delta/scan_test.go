package delta_test

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/delta"
	"github.com/capstatic/capstatic/manifest"
)

func TestSkip(t *testing.T) {
	tests := []struct {
		name string
		want bool
	}{
		{"index.html", false},
		{".DS_Store", true},
		{"assets/.DS_Store", true},
		{"__MACOSX", true},
		{"__MACOSX/._index.html", true},
		{".git", true},
		{".git/HEAD", true},
		{"sub/.git", true},
		{".gitignore", false},
		{"assets/.DS_Store.js", false},
		{"my.git/x", false},
		{".well-known/assetlinks.json", false},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, delta.Skip(tt.name), "Skip(%q)", tt.name)
	}
}

func TestScan_OK(t *testing.T) {
	fsys := os.DirFS(filepath.Join("testdata", "scan", "ok"))
	entries, err := delta.Scan(fsys)
	require.NoError(t, err)

	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
		data, err := fs.ReadFile(fsys, e.Name)
		require.NoError(t, err)
		assert.Equal(t, int64(len(data)), e.Size, "size of %s", e.Name)
		assert.Equal(t, manifest.Digest(sha256.Sum256(data)), e.SHA256, "digest of %s", e.Name)
	}
	// Sorted by full name: "a.js" before "a/b.js" ('.' < '/'), although a
	// walk visits the directory "a" first.
	assert.Equal(t, []string{"a.js", "a/b.js", "assets/app.3f2a1b9c.js", "assets/empty.txt", "assets/style.css", "index.html"}, names)
}

func TestScan_SkipsLitter(t *testing.T) {
	fsys := fstest.MapFS{
		"index.html":            {Data: []byte("<html></html>")},
		".DS_Store":             {Data: []byte{0, 0, 0, 1}},
		"assets/.DS_Store":      {Data: []byte{0, 0, 0, 1}},
		"__MACOSX/._index.html": {Data: []byte{5}},
		".git/HEAD":             {Data: []byte("ref: refs/heads/main\n")},
		".git/bad\\name":        {Data: []byte("a skipped folder is not inspected")},
		"lib/.git":              {Data: []byte("gitdir: ../.git/modules/lib\n")},
		"lib/x.js":              {Data: []byte("x")},
	}
	entries, err := delta.Scan(fsys)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name)
	}
	assert.Equal(t, []string{"index.html", "lib/x.js"}, names)
}

func TestScan_Errors(t *testing.T) {
	index := &fstest.MapFile{Data: []byte("<html></html>")}
	tooMany := fstest.MapFS{"index.html": index}
	for i := range delta.MaxFiles {
		tooMany[fmt.Sprintf("f/%05d.js", i)] = &fstest.MapFile{Data: []byte{byte(i)}}
	}
	tests := []struct {
		name string
		fsys fs.FS
		want error
		path string // the FileError path, if any
	}{
		{"ErrNoIndex", fstest.MapFS{"main.js": {Data: []byte("x")}}, delta.ErrNoIndex, ""},
		{"ErrNoIndex/nested", os.DirFS(filepath.Join("testdata", "scan", "nested-index")), delta.ErrNoIndex, ""},
		{"ErrNoIndex/case", fstest.MapFS{"INDEX.HTML": index}, delta.ErrNoIndex, ""},
		{"ErrBadName/backslash", fstest.MapFS{"index.html": index, `assets\app.js`: {}}, delta.ErrBadName, `assets\app.js`},
		{"ErrBadName/dir", fstest.MapFS{"index.html": index, `a\b/c.js`: {}}, delta.ErrBadName, `a\b`},
		{"ErrBadName/utf8", fstest.MapFS{"index.html": index, "caf\xe9.js": {}}, delta.ErrBadName, "caf\xe9.js"},
		{"ErrIrregular/pipe", fstest.MapFS{"index.html": index, "fifo": {Mode: fs.ModeNamedPipe}}, delta.ErrIrregular, "fifo"},
		{"ErrIrregular/symlinkToDir", fstest.MapFS{"index.html": index, "d/x.js": {}, "link": {Mode: fs.ModeSymlink, Data: []byte("d")}}, delta.ErrIrregular, "link"},
		{"ErrTooManyFiles", tooMany, delta.ErrTooManyFiles, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			entries, err := delta.Scan(tt.fsys)
			require.ErrorIs(t, err, tt.want)
			assert.Nil(t, entries)
			var fe *delta.FileError
			if tt.path == "" {
				assert.False(t, errors.As(err, &fe), "unexpected FileError %v", err)
				return
			}
			require.ErrorAs(t, err, &fe)
			assert.Equal(t, tt.path, fe.Path)
			assert.Contains(t, err.Error(), tt.path)
		})
	}
}

func TestScan_Symlinks(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(data), 0o644))
	}
	write("index.html", "<html></html>")
	write("real/app.js", "console.log(1)")
	if err := os.Symlink(filepath.Join("real", "app.js"), filepath.Join(dir, "app.js")); err != nil {
		t.Skipf("cannot create symlinks here: %v", err)
	}
	entries, err := delta.Scan(os.DirFS(dir))
	require.NoError(t, err)
	require.Len(t, entries, 3)
	assert.Equal(t, "app.js", entries[0].Name)
	assert.Equal(t, entries[2].SHA256, entries[0].SHA256, "a link to a file is read through")

	t.Run("ToDirectory", func(t *testing.T) {
		require.NoError(t, os.Symlink("real", filepath.Join(dir, "linkdir")))
		t.Cleanup(func() { os.Remove(filepath.Join(dir, "linkdir")) })
		_, err := delta.Scan(os.DirFS(dir))
		require.ErrorIs(t, err, delta.ErrIrregular)
		assert.ErrorContains(t, err, "linkdir")
	})
	t.Run("Dangling", func(t *testing.T) {
		require.NoError(t, os.Symlink("missing.js", filepath.Join(dir, "dangling.js")))
		t.Cleanup(func() { os.Remove(filepath.Join(dir, "dangling.js")) })
		_, err := delta.Scan(os.DirFS(dir))
		require.ErrorIs(t, err, fs.ErrNotExist)
		var fe *delta.FileError
		require.ErrorAs(t, err, &fe)
		assert.Equal(t, "dangling.js", fe.Path)
	})
}

func BenchmarkScan(b *testing.B) {
	for _, size := range []int{1 << 20, 16 << 20} {
		fsys := webBuild(1, 2, size)
		var total int64
		for _, f := range fsys {
			total += int64(len(f.Data))
		}
		b.Run(fmt.Sprintf("%dMiB", size>>20), func(b *testing.B) {
			b.SetBytes(total)
			b.ReportAllocs()
			for b.Loop() {
				if _, err := delta.Scan(fsys); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
