package delta_test

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"

	"github.com/capstatic/capstatic/delta"
	"github.com/capstatic/capstatic/manifest"
)

// records returns the file records of fsys as if every file were stored
// raw.
func records(fsys fstest.MapFS) []manifest.File {
	var files []manifest.File
	for _, name := range slices.Sorted(maps.Keys(fsys)) {
		files = append(files, file(name, string(fsys[name].Data), int64(len(fsys[name].Data))))
	}
	return files
}

// rename returns a copy of fsys in which the files for which change returns
// a new name and content are replaced.
func rename(fsys fstest.MapFS, change func(name string, data []byte) (string, []byte, bool)) fstest.MapFS {
	out := fstest.MapFS{}
	for name, f := range fsys {
		if n, d, ok := change(name, f.Data); ok {
			out[n] = &fstest.MapFile{Data: d}
			continue
		}
		out[name] = f
	}
	return out
}

func TestCascade(t *testing.T) {
	old := webBuild(1, 2, 256<<10)
	page := func(name string) bool { return strings.HasPrefix(name, "assets/page") }
	tests := []struct {
		name string
		next fstest.MapFS
		want bool
	}{
		// A new vendor chunk changes the import line, hence the hash and
		// name, of all ten pages.
		{"VendorChange", webBuild(1, 3, 256<<10), true},
		{"Unchanged", old, false},
		{"OnePage", rename(old, func(name string, data []byte) (string, []byte, bool) {
			d := append([]byte("console.log(1);"), data...)
			return "assets/page3-" + shortHash(d) + ".js", d, strings.HasPrefix(name, "assets/page3-")
		}), false},
		{"PureRenames", rename(old, func(name string, data []byte) (string, []byte, bool) {
			return strings.Replace(name, "-", "-x", 1), data, page(name) // content reused
		}), false},
		{"Rewrites", rename(old, func(name string, data []byte) (string, []byte, bool) {
			d := jsText(newRand(uint64(len(name))), len(data)/2) // half the size: not slight
			return strings.Replace(name, "-", "-y", 1), d, page(name)
		}), false},
		{"NoHashNames", rename(old, func(name string, data []byte) (string, []byte, bool) {
			return name, append([]byte("/*v2*/"), data...), page(name) // same names
		}), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, detail := delta.Cascade(records(old), records(tt.next))
			assert.Equal(t, tt.want, got, "detail: %s", detail)
			if !tt.want {
				assert.Empty(t, detail)
				return
			}
			assert.Contains(t, detail, "11 files were renamed")
			assert.Contains(t, detail, "assets/page")
			t.Log(detail)
		})
	}
}

func TestCascade_Few(t *testing.T) {
	// Four renamed chunks are below delta.CascadeMinFiles even when they
	// are the whole download.
	var old, next []manifest.File
	for i, h := range []string{"1a2b3c4d", "5e6f7a8b", "9c0d1e2f", "3a4b5c6d"} {
		content := strings.Repeat("x", 1000+i)
		old = append(old, file("assets/c"+h[:1]+"."+h+".js", content, 400))
		next = append(next, file("assets/c"+h[:1]+"."+h[4:]+h[:4]+".js", content+"!", 400))
	}
	got, _ := delta.Cascade(old, next)
	assert.False(t, got)
}
