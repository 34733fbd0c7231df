package resolver

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"path"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/capstatic/capstatic/manifest"
)

// Defaults of an [OriginConfig].
const (
	DefaultOriginTimeout = 5 * time.Second
	DefaultMaxObject     = 512 << 20
	DefaultCacheBytes    = 256 << 20
)

// Errors of an [Origin]. Every failure to read an object wraps ErrOrigin
// (through an [*OriginError]) and, where it applies, one of the others or
// context.DeadlineExceeded for a request that ran out of time. A missing
// object is not a failure: it wraps [fs.ErrNotExist].
var (
	ErrOrigin       = errors.New("origin failed")
	ErrOriginStatus = errors.New("unexpected origin status")
	ErrTruncated    = errors.New("truncated origin body")
	ErrTooLarge     = errors.New("object larger than the origin limit")
)

// OriginError is a failed read of one object from an origin. It unwraps to
// [ErrOrigin] and to its cause.
type OriginError struct {
	Name   string // tree path of the object
	Status int    // HTTP status of the answer; 0 when there was none
	Err    error
}

func (e *OriginError) Error() string {
	s := "origin " + e.Name
	if e.Status != 0 {
		s += ": status " + strconv.Itoa(e.Status)
	}
	return s + ": " + e.Err.Error()
}

// Unwrap returns [ErrOrigin] and the cause.
func (e *OriginError) Unwrap() []error { return []error{ErrOrigin, e.Err} }

// OriginConfig configures an [Origin]. The zero value takes the defaults.
type OriginConfig struct {
	// Client makes the requests; nil means a client of the origin's own.
	Client *http.Client
	// Timeout bounds a request for a pointer or the index, body
	// included; for any other object it bounds the wait for the answer's
	// headers and every stall of its body, so that a large bundle may take
	// as long as it keeps arriving. A request that runs out of time fails
	// with an error wrapping context.DeadlineExceeded. Zero means
	// [DefaultOriginTimeout].
	Timeout time.Duration
	// MaxObject is the largest object read; a larger one fails with
	// [ErrTooLarge]. Zero means [DefaultMaxObject]. It must cover the
	// largest bundle zip, which is held in memory while it is served.
	MaxObject int64
	// CacheBytes bounds the memory the cache holds; zero means
	// [DefaultCacheBytes], negative disables the cache. An object costing
	// more than a quarter of it is served but not kept.
	CacheBytes int64
	// StaleIfError is how long after the origin last vouched for a pointer
	// or the index the cached copy is still served when the origin fails
	// (the idea of RFC 5861's stale-if-error). Zero means never.
	StaleIfError time.Duration
	// UserAgent is sent with every request; "" means "capstatic".
	UserAgent string
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observe, when set, is called with hit false for every object whose
	// bytes came in full from the origin, and with hit true for every
	// other Open that returned a file: from the cache, after a 304
	// revalidation, by joining a concurrent fetch, or as a stale copy.
	// It must be safe for concurrent use.
	Observe func(hit bool)
}

// Origin is a [Source] over a remote HTTP(S) tree: a folder on a web
// server, a CDN, GitHub Pages or an S3 website endpoint. It is safe for
// concurrent use.
//
// Pointers (current.json) and the index (index.json) are mutable: every
// Open revalidates the cached copy with If-None-Match / If-Modified-Since
// (the [Catalog] already limits how often it reads a pointer). When the
// origin fails, the cached copy is served for up to
// [OriginConfig.StaleIfError] after the origin last vouched for it, and
// the returned file's Stale method reports the failure: the Catalog
// refuses such a pointer (it keeps its own last good state, and the
// failure reaches [Catalog.Observe]), the file server serves it.
//
// Every other object is named by a digest and immutable: it is cached
// until evicted from a byte-bounded LRU, and concurrent misses share one
// request. Objects named by the digest of their own bytes (state
// documents, clear delta objects) are verified before they are kept.
// Bodies are bounded by [OriginConfig.MaxObject]; a truncated body
// (shorter than its Content-Length, or a broken chunked stream) is an
// error and is never cached. 404 and 410 are [fs.ErrNotExist].
type Origin struct {
	base   *url.URL
	cfg    OriginConfig
	client *http.Client
	log    *slog.Logger
	cache  *lru
	flight flight

	hits, misses, revalidated, stale, failures atomic.Uint64
}

var _ Source = (*Origin)(nil)

// NewOrigin returns an [Origin] reading the tree whose root is the
// http:// or https:// URL base.
func NewOrigin(base string, cfg OriginConfig) (*Origin, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, fmt.Errorf("origin url: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.Fragment != "" {
		return nil, fmt.Errorf("origin url %q: want http(s)://HOST/PATH", base)
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultOriginTimeout
	}
	if cfg.MaxObject <= 0 {
		cfg.MaxObject = DefaultMaxObject
	}
	if cfg.CacheBytes == 0 {
		cfg.CacheBytes = DefaultCacheBytes
	}
	if cfg.UserAgent == "" {
		cfg.UserAgent = "capstatic"
	}
	o := &Origin{base: u, cfg: cfg, client: cfg.Client, log: cfg.Logger, cache: newLRU(cfg.CacheBytes)}
	if o.client == nil {
		o.client = &http.Client{}
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	return o, nil
}

// OriginStats counts what an [Origin] did since it was made.
type OriginStats struct {
	// Hits and Misses count what [OriginConfig.Observe] is told.
	Hits, Misses uint64
	// Revalidated counts 304 answers; Stale counts cached copies served
	// because the origin failed; Failures counts failed origin requests.
	Revalidated, Stale, Failures uint64
	// Evictions counts objects dropped to fit the bound; Bytes and Objects
	// are what the cache holds now.
	Evictions uint64
	Bytes     int64
	Objects   int
}

// Stats returns the origin's counters.
func (o *Origin) Stats() OriginStats {
	b, n, ev := o.cache.usage()
	return OriginStats{Hits: o.hits.Load(), Misses: o.misses.Load(), Revalidated: o.revalidated.Load(),
		Stale: o.stale.Load(), Failures: o.failures.Load(), Evictions: ev, Bytes: b, Objects: n}
}

// Open implements [Source]. The file is a [bytes.Reader] (an
// io.ReadSeeker) with Stat; it stays readable after the object leaves the
// cache.
func (o *Origin) Open(ctx context.Context, name string) (fs.File, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if !fs.ValidPath(name) || name == "." || strings.Contains(name, "\\") {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	mut := mutable(name)
	if !mut {
		if obj := o.cache.get(name); obj != nil {
			o.observe(true)
			return newOriginFile(obj, nil), nil
		}
	}
	// The fetch runs detached from ctx, bounded by its own timeout, so
	// that a device hanging up does not fail the callers sharing it.
	f, shared, err := o.flight.do(ctx, name, func() (*fetched, error) {
		f, err := o.load(context.WithoutCancel(ctx), name, mut)
		if err == nil && !f.hit {
			o.observe(false) // here, in case the caller that started it gave up
		}
		return f, err
	})
	if err != nil {
		return nil, err
	}
	if shared || f.hit {
		o.observe(true)
	}
	return newOriginFile(f.obj, f.stale), nil
}

func (o *Origin) observe(hit bool) {
	if hit {
		o.hits.Add(1)
	} else {
		o.misses.Add(1)
	}
	if o.cfg.Observe != nil {
		o.cfg.Observe(hit)
	}
}

func (o *Origin) now() time.Time {
	if o.cfg.Now != nil {
		return o.cfg.Now()
	}
	return time.Now()
}

// fetched is the outcome of one load: the object, whether its bytes came
// from the cache, and the origin failure when a stale copy was served.
type fetched struct {
	obj   *object
	hit   bool
	stale error
}

// load returns the object named name from the cache or the origin and
// updates the cache. Only one load per name runs at a time (see flight).
func (o *Origin) load(ctx context.Context, name string, mut bool) (*fetched, error) {
	prev := o.cache.get(name)
	if prev != nil && !mut {
		return &fetched{obj: prev, hit: true}, nil // filled while this caller queued
	}
	obj, notModified, err := o.fetch(ctx, name, prev)
	now := o.now()
	switch {
	case err == nil && notModified:
		o.revalidated.Add(1)
		n := *prev
		n.validated = now
		o.cache.add(&n)
		return &fetched{obj: &n, hit: true}, nil
	case err == nil:
		obj.validated = now
		o.cache.add(obj)
		return &fetched{obj: obj}, nil
	case errors.Is(err, fs.ErrNotExist):
		o.cache.remove(name) // an app deleted from the tree is gone
		return nil, err
	}
	o.failures.Add(1)
	if prev != nil && o.cfg.StaleIfError > 0 && now.Sub(prev.validated) <= o.cfg.StaleIfError {
		o.stale.Add(1)
		o.log.Warn("origin failed, serving the cached copy", "path", name,
			"age", now.Sub(prev.validated).Round(time.Second).String(), "err", err)
		return &fetched{obj: prev, hit: true, stale: err}, nil
	}
	return nil, err
}

// fetch GETs name, conditionally when prev is set. notModified reports a
// 304 answer to that condition.
func (o *Origin) fetch(ctx context.Context, name string, prev *object) (obj *object, notModified bool, err error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	timer := time.AfterFunc(o.cfg.Timeout, func() { cancel(context.DeadlineExceeded) })
	defer timer.Stop()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, o.url(name), nil)
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("User-Agent", o.cfg.UserAgent)
	// The exact bytes of the object: no transparent decompression, so
	// that lengths and digests are those of the stored object.
	req.Header.Set("Accept-Encoding", "identity")
	if prev != nil {
		if prev.etag != "" {
			req.Header.Set("If-None-Match", prev.etag)
		} else if prev.lastMod != "" {
			req.Header.Set("If-Modified-Since", prev.lastMod)
		}
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, false, o.fail(ctx, name, 0, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusOK:
	case resp.StatusCode == http.StatusNotModified && prev != nil:
		return nil, true, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, false, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	default:
		io.CopyN(io.Discard, resp.Body, 4<<10) // let a short error page keep the connection
		return nil, false, o.fail(ctx, name, resp.StatusCode, ErrOriginStatus)
	}
	var r io.Reader = resp.Body
	if !mutable(name) {
		r = &progressReader{r: r, timer: timer, d: o.cfg.Timeout}
	}
	body, err := o.readBody(resp, r)
	if err == nil {
		err = verifySelfNamed(name, body)
	}
	if err != nil {
		return nil, false, o.fail(ctx, name, resp.StatusCode, err)
	}
	obj = &object{name: name, body: body, etag: resp.Header.Get("ETag")}
	obj.lastMod, obj.mod = strongLastModified(resp.Header)
	return obj, false, nil
}

// strongLastModified returns the Last-Modified of an answer (and its time)
// for If-Modified-Since, or "" when it is only a weak validator: one
// second's resolution cannot tell apart two pointers written in the same
// second, so it is used only when the answer's Date is at least a second
// later (RFC 9110 §8.8.2.2). An ETag, when sent, takes precedence anyway.
func strongLastModified(h http.Header) (string, time.Time) {
	lm := h.Get("Last-Modified")
	mod, err := http.ParseTime(lm)
	if err != nil {
		return "", time.Time{}
	}
	if date, err := http.ParseTime(h.Get("Date")); err != nil || date.Sub(mod) < time.Second {
		return "", mod
	}
	return lm, mod
}

func (o *Origin) url(name string) string {
	return o.base.JoinPath(strings.Split(name, "/")...).String()
}

// fail wraps err for name, naming the deadline when the request ran out
// of time (the transport only says that it was cancelled).
func (o *Origin) fail(ctx context.Context, name string, status int, err error) error {
	if cause := context.Cause(ctx); cause != nil && !errors.Is(err, cause) {
		err = fmt.Errorf("%w: %w", cause, err)
	}
	return &OriginError{Name: name, Status: status, Err: err}
}

// progressReader re-arms timer for d after every read that made progress.
type progressReader struct {
	r     io.Reader
	timer *time.Timer
	d     time.Duration
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	if n > 0 {
		p.timer.Reset(p.d)
	}
	return n, err
}

// readBody reads a 200 answer's body from r: at most MaxObject bytes,
// exactly Content-Length when the origin sent one.
func (o *Origin) readBody(resp *http.Response, r io.Reader) ([]byte, error) {
	if ce := resp.Header.Get("Content-Encoding"); ce != "" && !strings.EqualFold(ce, "identity") {
		return nil, fmt.Errorf("content-encoding %q: want the object's own bytes", ce)
	}
	max := o.cfg.MaxObject
	if resp.ContentLength > max {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrTooLarge, resp.ContentLength, max)
	}
	body, err := io.ReadAll(io.LimitReader(r, max+1))
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF):
		return nil, truncated(len(body), resp.ContentLength)
	case err != nil:
		return nil, err
	case int64(len(body)) > max:
		return nil, fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)
	case resp.ContentLength >= 0 && int64(len(body)) != resp.ContentLength:
		return nil, truncated(len(body), resp.ContentLength)
	}
	return body, nil
}

func truncated(got int, want int64) error {
	if want < 0 {
		return fmt.Errorf("%w after %d bytes", ErrTruncated, got)
	}
	return fmt.Errorf("%w after %d of %d bytes", ErrTruncated, got, want)
}

// verifySelfNamed checks the bytes of an object whose name is the SHA-256
// of those bytes: a state document (APP/states/D.json) or a clear delta
// object (APP/files/D; a .br object is named by its uncompressed content).
// Other objects are checked by their readers against the records naming
// them.
func verifySelfNamed(name string, body []byte) error {
	parts := strings.Split(name, "/")
	if len(parts) != 3 {
		return nil
	}
	var hex string
	switch {
	case parts[1] == "states" && path.Ext(parts[2]) == ".json":
		hex = strings.TrimSuffix(parts[2], ".json")
	case parts[1] == "files" && !strings.Contains(parts[2], "."):
		hex = parts[2]
	default:
		return nil
	}
	want, err := manifest.ParseDigest(hex)
	if err != nil {
		return nil // not a digest name; nothing to check against
	}
	if manifest.Sum(body) != want {
		return manifest.ErrDigestMismatch
	}
	return nil
}

// originFile is an object opened from an [Origin].
type originFile struct {
	*bytes.Reader
	info  objectInfo
	stale error
}

func newOriginFile(obj *object, stale error) *originFile {
	return &originFile{Reader: bytes.NewReader(obj.body), stale: stale,
		info: objectInfo{name: path.Base(obj.name), size: int64(len(obj.body)), mod: obj.mod}}
}

func (f *originFile) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *originFile) Close() error               { return nil }

// Stale returns the origin failure that made the origin serve this cached
// copy, or nil when the origin vouched for it.
func (f *originFile) Stale() error { return f.stale }

type objectInfo struct {
	name string
	size int64
	mod  time.Time
}

func (i objectInfo) Name() string       { return i.name }
func (i objectInfo) Size() int64        { return i.size }
func (i objectInfo) Mode() fs.FileMode  { return 0o444 }
func (i objectInfo) ModTime() time.Time { return i.mod }
func (i objectInfo) IsDir() bool        { return false }
func (i objectInfo) Sys() any           { return nil }
