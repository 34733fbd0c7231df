package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestProgress checks the line-oriented output used outside terminals:
// nothing before the interval has passed, then one line with the counts,
// bytes and rate; and that --quiet/--json (nil printer) print nothing.
func TestProgress(t *testing.T) {
	var out bytes.Buffer
	e := &env{stderr: &out, getenv: func(string) string { return "" }}
	p := newProgress(e, false)
	assert.False(t, p.live, "a buffer is not a terminal")
	clock := p.start
	p.now = func() time.Time { return clock }

	p.object("app/files/a", 1<<20, true)
	assert.Empty(t, out.String(), "output before the interval")
	clock = clock.Add(10 * time.Second)
	p.object("app/files/b", 1<<20, true)
	p.object("app/files/c", 100, false)
	p.done()
	assert.Equal(t, "uploading: 2 objects written (2.0 MiB, 204.8 KiB/s), 0 already present, 10s\n", out.String())

	var none *progress = newProgress(e, true)
	none.object("x", 1, true)
	none.done()
	assert.Equal(t, 1, strings.Count(out.String(), "\n"), "output of a quiet printer")
}

func TestBytesText(t *testing.T) {
	for n, want := range map[float64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1.5 * (1 << 30): "1.5 GiB"} {
		assert.Equal(t, want, bytesText(n), "bytesText(%v)", n)
	}
}
