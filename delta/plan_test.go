package delta_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/delta"
	"github.com/capstatic/capstatic/manifest"
)

// file returns a record of a file with content content, stored in size
// bytes.
func file(name, content string, size int64) manifest.File {
	d := manifest.Sum([]byte(content))
	return manifest.File{Name: name, SHA256: d, Size: int64(len(content)),
		Object: manifest.Object{Path: manifest.FilePath(testApp, d, false), Size: size}}
}

func holding(files ...manifest.File) func(manifest.Digest) bool {
	held := map[manifest.Digest]bool{}
	for _, f := range files {
		held[f.SHA256] = true
	}
	return func(d manifest.Digest) bool { return held[d] }
}

func TestPlan(t *testing.T) {
	a, b, c := file("a.js", "a", 100), file("b.js", "b", 20), file("c.js", "c", 3)
	b2 := file("copy/b.js", "b", 20)
	tests := []struct {
		name  string
		files []manifest.File
		have  func(manifest.Digest) bool
		want  delta.Download
	}{
		{"Fresh", []manifest.File{a, b, c}, nil, delta.Download{Files: []manifest.File{a, b, c}, Bytes: 123}},
		{"Partial", []manifest.File{a, b, c}, holding(b), delta.Download{Files: []manifest.File{a, c}, Bytes: 103, Reused: 1}},
		{"All", []manifest.File{a, b, c}, holding(c, b, a), delta.Download{Reused: 3}},
		{"ByContent", []manifest.File{a, b2}, holding(b), delta.Download{Files: []manifest.File{a}, Bytes: 100, Reused: 1}},
		{"SameContentTwice", []manifest.File{b, b2}, nil, delta.Download{Files: []manifest.File{b, b2}, Bytes: 40}},
		{"Empty", nil, nil, delta.Download{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			assert.Equal(t, tt.want, delta.Plan(tt.files, tt.have))
		})
	}
}

func TestReport(t *testing.T) {
	a, b, c := file("a.js", "a", 100), file("b.js", "b", 20), file("c.js", "c", 3)
	old := map[string][]manifest.File{
		"1.2.0":     {a, b},
		"1.10.0":    {a, b, c},
		"1.0.0":     {file("a.js", "old a", 90)},
		"1.10.0-rc": {b},
		"weird":     {c},
		"another":   nil,
	}
	costs := delta.Report([]manifest.File{a, b, c}, old)
	var got []string
	for _, c := range costs {
		got = append(got, fmt.Sprintf("%s:%d/%d", c.Version, c.Bytes, c.Reused))
	}
	assert.Equal(t, []string{
		"1.10.0:0/3", "1.10.0-rc:103/1", "1.2.0:3/2", "1.0.0:123/0", "another:123/0", "weird:120/1",
	}, got)
	require.Len(t, costs[1].Files, 2)
	assert.Equal(t, "a.js", costs[1].Files[0].Name)
}
