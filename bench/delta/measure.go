package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/capstatic/capstatic/delta"
	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
)

const (
	benchApp     = "com.example.bench"
	benchChannel = "production"
	// metaFixed and metaPerFile make the metadata allowance of an
	// incremental publish: bundle record, state, pointer and index.
	metaFixed   = 64 << 10
	metaPerFile = 200
)

// result holds the figures of one pair.
type result struct {
	name, old, new, kind string
	files, changed       int   // files of new; files whose content old lacks
	zip                  int64 // clear zip of new
	ours, optimum        int64
	objects              int64 // objects new needs that old did not have
	cold, incr           time.Duration
	written, bound       int64
	zips                 int // zips written by the incremental publish
}

// violations lists the bounds r breaks.
func (r result) violations(tolerance float64) []string {
	var v []string
	if float64(r.ours) > float64(r.optimum)*(1+tolerance) {
		v = append(v, fmt.Sprintf("download %d bytes exceeds the optimum %d by more than %.0f%%", r.ours, r.optimum, tolerance*100))
	}
	if r.written > r.bound {
		v = append(v, fmt.Sprintf("incremental publish wrote %d bytes, bound %d", r.written, r.bound))
	}
	if r.zips != 1 {
		v = append(v, fmt.Sprintf("incremental publish wrote %d zips, want the one clear zip", r.zips))
	}
	return v
}

// measure publishes the build in fromDir then the one in toDir into a
// fresh store and computes the figures of the pair.
func measure(ctx context.Context, c config, work string, from, to pkg, fromDir, toDir string) (result, error) {
	r := result{name: to.name, old: from.version, new: to.version, kind: kind(from.version, to.version)}
	root, err := os.MkdirTemp(work, "tree-")
	if err != nil {
		return r, err
	}
	defer os.RemoveAll(root)
	dir, err := publish.NewDir(root)
	if err != nil {
		return r, err
	}
	store := &counting{Dir: dir}
	p := &publish.Publisher{Store: store, TempDir: work}

	oldRes, cold, err := timedPublish(ctx, p, from.version, fromDir)
	if err != nil {
		return r, err
	}
	store.reset()
	newRes, incr, err := timedPublish(ctx, p, to.version, toDir)
	if err != nil {
		return r, err
	}
	r.cold, r.incr = cold, incr
	r.written, r.zips = store.totals()

	oldFiles, newFiles := oldRes.Bundle.Files, newRes.Bundle.Files
	held := make(map[manifest.Digest]bool, len(oldFiles))
	oldPaths := make(map[string]bool, len(oldFiles))
	for _, f := range oldFiles {
		held[f.SHA256] = true
		oldPaths[f.Object.Path] = true
	}
	r.files, r.zip = len(newFiles), newRes.Bundle.Size
	r.ours = delta.Plan(newFiles, func(d manifest.Digest) bool { return held[d] }).Bytes
	counted := map[string]bool{}
	for _, f := range newFiles {
		if !oldPaths[f.Object.Path] && !counted[f.Object.Path] {
			counted[f.Object.Path] = true
			r.objects += f.Object.Size
		}
	}
	r.bound = r.zip + r.objects + metaFixed + metaPerFile*int64(len(newFiles))
	r.changed, r.optimum, err = optimum(ctx, c.brotli, toDir, newFiles, held)
	return r, err
}

func timedPublish(ctx context.Context, p *publish.Publisher, version, dir string) (*publish.Result, time.Duration, error) {
	start := time.Now()
	res, err := p.Publish(ctx, publish.Release{App: benchApp, Version: version, Channel: benchChannel,
		Build: os.DirFS(dir)})
	return res, time.Since(start), err
}

// optimum returns how many of files have content outside held, and the
// sum over them of min(raw size, size after the reference brotli -q 11).
func optimum(ctx context.Context, brotli, dir string, files []manifest.File, held map[manifest.Digest]bool) (int, int64, error) {
	n, sum := 0, int64(0)
	sizes := map[manifest.Digest]int64{} // compressed size by content
	for _, f := range files {
		if held[f.SHA256] {
			continue
		}
		n++
		size, ok := sizes[f.SHA256]
		if !ok {
			var err error
			if size, err = brotliSize(ctx, brotli, filepath.Join(dir, filepath.FromSlash(f.Name))); err != nil {
				return 0, 0, err
			}
			sizes[f.SHA256] = size
		}
		sum += min(f.Size, size)
	}
	return n, sum, nil
}

// brotliSize returns the size of name compressed by "brotli -q 11".
func brotliSize(ctx context.Context, brotli, name string) (int64, error) {
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, brotli, "-q", "11", "-c", name)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("%s -q 11 %s: %w: %s", brotli, name, err, strings.TrimSpace(errb.String()))
	}
	return int64(out.Len()), nil
}

// kind names the step between two versions: "patch", "minor" or "major".
func kind(from, to string) string {
	o, err1 := manifest.ParseBundleVersion(from)
	n, err2 := manifest.ParseBundleVersion(to)
	switch {
	case err1 != nil || err2 != nil:
		return "?"
	case o.Major() != n.Major():
		return "major"
	case o.Minor() != n.Minor():
		return "minor"
	}
	return "patch"
}

// counting is a directory store that counts the bytes written to it and
// the zips among them. Embedding keeps the optional abilities of
// [publish.Dir] (Swapper, Lister) that the publisher looks for.
type counting struct {
	*publish.Dir
	mu    sync.Mutex
	bytes int64
	zips  int
}

func (c *counting) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	cr := &countReader{r: r}
	err := c.Dir.Put(ctx, key, cr, size)
	c.add(key, cr.n, err)
	return err
}

func (c *counting) Swap(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) error {
	cr := &countReader{r: r}
	err := c.Dir.Swap(ctx, key, cr, size, ifMatch)
	c.add(key, cr.n, err)
	return err
}

func (c *counting) add(key string, n int64, err error) {
	if err != nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bytes += n
	if strings.HasSuffix(key, ".zip") {
		c.zips++
	}
}

func (c *counting) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.bytes, c.zips = 0, 0
}

func (c *counting) totals() (int64, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.bytes, c.zips
}

type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

var (
	_ publish.Swapper = (*counting)(nil)
	_ publish.Lister  = (*counting)(nil)
)
