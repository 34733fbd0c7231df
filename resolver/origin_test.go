package resolver_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/resolver"
)

// signingKey returns the Ed25519 key derived from seed.
func signingKey(seed string) ed25519.PrivateKey {
	s := sha256.Sum256([]byte(seed))
	return ed25519.NewKeyFromSeed(s[:])
}

// clock is an injectable, settable clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// tree is a folder written by the real publisher, signing with key.
type tree struct {
	dir string
	pub *publish.Publisher
}

const signTTL = 7 * 24 * time.Hour

func newTree(t *testing.T, key ed25519.PrivateKey, clk *clock) *tree {
	t.Helper()
	dir := t.TempDir()
	store, err := publish.NewDir(dir)
	require.NoError(t, err)
	return &tree{dir: dir, pub: &publish.Publisher{Store: store, Sign: publish.Signer{Key: key, TTL: signTTL},
		Now: clk.Now, TempDir: t.TempDir()}}
}

// release publishes version v to the production channel.
func (tr *tree) release(t *testing.T, v string) *publish.Result {
	t.Helper()
	build := fstest.MapFS{"index.html": {Data: []byte("<html>" + v + "</html>")}, "app.js": {Data: []byte("console.log('" + v + "')")}}
	res, err := tr.pub.Publish(context.Background(), publish.Release{App: testApp, Version: v, Channel: "production", Build: build})
	require.NoError(t, err, "publish %s", v)
	return res
}

func (tr *tree) read(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tr.dir, filepath.FromSlash(name)))
	require.NoError(t, err)
	return b
}

func (tr *tree) pointer(t *testing.T) *manifest.Pointer {
	t.Helper()
	p, err := manifest.DecodePointer(tr.read(t, manifest.PointerPath(testApp)))
	require.NoError(t, err)
	return p
}

// fault is what a testOrigin does instead of serving a file.
type fault int

const (
	healthy fault = iota
	status500
	hang
	truncate
)

// testOrigin serves a folder over real HTTP on loopback like a static
// host (strong ETags, conditional requests, ranges), with injectable
// faults and per-path request counts.
type testOrigin struct {
	dir string
	srv *httptest.Server

	mu          sync.Mutex
	fault       fault
	faultOn     func(name string) bool // nil: every path
	replace     map[string][]byte      // bytes served instead of a file
	requests    map[string]int
	notModified int
	agents      map[string]bool
}

func newTestOrigin(t *testing.T, dir string) *testOrigin {
	t.Helper()
	o := &testOrigin{dir: dir, replace: map[string][]byte{}, requests: map[string]int{}, agents: map[string]bool{}}
	o.srv = httptest.NewServer(o)
	t.Cleanup(o.srv.Close)
	return o
}

func (o *testOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	name := strings.TrimPrefix(r.URL.Path, "/")
	o.mu.Lock()
	o.requests[name]++
	o.agents[r.Header.Get("User-Agent")] = true
	f := o.fault
	if o.faultOn != nil && !o.faultOn(name) {
		f = healthy
	}
	body, replaced := o.replace[name]
	o.mu.Unlock()
	if !replaced {
		var err error
		body, err = os.ReadFile(filepath.Join(o.dir, filepath.FromSlash(name)))
		if err != nil {
			http.NotFound(w, r)
			return
		}
	}
	switch f {
	case status500:
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	case hang:
		select {
		case <-r.Context().Done():
		case <-time.After(10 * time.Second):
		}
		return
	case truncate:
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body[:len(body)/2])
		return // the server closes the connection: the client sees an unexpected EOF
	}
	sum := sha256.Sum256(body)
	etag := `"` + manifest.Digest(sum).Short() + `"`
	if r.Header.Get("If-None-Match") == etag {
		o.mu.Lock()
		o.notModified++
		o.mu.Unlock()
	}
	w.Header().Set("ETag", etag)
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(body))
}

func (o *testOrigin) setFault(f fault, on func(name string) bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fault, o.faultOn = f, on
}

func (o *testOrigin) serve(name string, b []byte) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if b == nil {
		delete(o.replace, name)
	} else {
		o.replace[name] = b
	}
}

func (o *testOrigin) heal() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fault, o.faultOn, o.replace = healthy, nil, map[string][]byte{}
}

func (o *testOrigin) count(name string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.requests[name]
}

func (o *testOrigin) userAgents() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	var uas []string
	for ua := range o.agents {
		uas = append(uas, ua)
	}
	return uas
}

func (o *testOrigin) revalidations() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.notModified
}

func only(name string) func(string) bool { return func(n string) bool { return n == name } }

func under(part string) func(string) bool {
	return func(n string) bool { return strings.Contains(n, part) }
}

// harness is a resolver (Server, Catalog, Trust) over an Origin over a
// testOrigin over a published tree.
type harness struct {
	clk    *clock
	tree   *tree
	origin *testOrigin
	src    *resolver.Origin
	cat    *resolver.Catalog
	url    string

	mu   sync.Mutex
	errs []error
}

func newHarness(t *testing.T, cfg resolver.OriginConfig) *harness {
	t.Helper()
	key := signingKey("publisher")
	h := &harness{clk: newClock()}
	h.tree = newTree(t, key, h.clk)
	h.origin = newTestOrigin(t, h.tree.dir)
	if cfg.Timeout == 0 {
		cfg.Timeout = 2 * time.Second
	}
	cfg.Now, cfg.UserAgent = h.clk.Now, "capstatic/test"
	var err error
	h.src, err = resolver.NewOrigin(h.origin.srv.URL+"/", cfg)
	require.NoError(t, err)
	trust, err := resolver.NewTrust(key.Public().(ed25519.PublicKey), resolver.TrustConfig{Now: h.clk.Now})
	require.NoError(t, err)
	h.cat = resolver.NewCatalog(h.src, resolver.URLs{Files: "https://cdn.example/t", Builtin: "https://r.example/builtin"}, nil)
	h.cat.TTL, h.cat.Now, h.cat.Trust = 0, h.clk.Now, trust
	h.cat.Observe = func(_ string, _ bool, err error) {
		h.mu.Lock()
		defer h.mu.Unlock()
		h.errs = append(h.errs, err)
	}
	srv := httptest.NewServer(resolver.NewServer(resolver.Config{Catalog: h.cat, Files: h.src}))
	t.Cleanup(srv.Close)
	h.url = srv.URL
	return h
}

// offered asks the resolver for an update as a device on its builtin
// bundle and returns the version offered.
func (h *harness) offered(t *testing.T) string {
	t.Helper()
	resp, err := http.Post(h.url+"/updates", "application/json", bytes.NewReader(request(nil)))
	require.NoError(t, err)
	defer resp.Body.Close()
	var got map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	require.Equal(t, http.StatusOK, resp.StatusCode, "answer %v", got)
	v, _ := got["version"].(string)
	return v
}

// lastErr returns the error of the latest reload told to Observe.
func (h *harness) lastErr(t *testing.T) error {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	require.NotEmpty(t, h.errs, "no reload was observed")
	return h.errs[len(h.errs)-1]
}

// TestOrigin_Faults checks that the resolver keeps answering from the last
// good state whatever the origin does, that every fault reaches the
// Catalog's Observe hook with a sentinel a metric can label, and that a
// newer publish is picked up once the origin heals.
func TestOrigin_Faults(t *testing.T) {
	t.Parallel()
	ptrName := manifest.PointerPath(testApp)
	cases := []struct {
		name string
		// inject breaks the origin (or the tree) after 1.0.0 is live.
		inject func(t *testing.T, h *harness)
		want   []error
		label  string
	}{
		{"500", func(t *testing.T, h *harness) { h.origin.setFault(status500, nil) },
			[]error{resolver.ErrOrigin, resolver.ErrOriginStatus}, "origin"},
		{"500 on the new state", func(t *testing.T, h *harness) {
			h.origin.setFault(status500, under("/states/"))
			h.tree.release(t, "1.0.5")
		}, []error{resolver.ErrOrigin, resolver.ErrOriginStatus}, "origin"},
		{"hang", func(t *testing.T, h *harness) { h.origin.setFault(hang, nil) },
			[]error{resolver.ErrOrigin, context.DeadlineExceeded}, "timeout"},
		{"truncated pointer", func(t *testing.T, h *harness) { h.origin.setFault(truncate, only(ptrName)) },
			[]error{resolver.ErrOrigin, resolver.ErrTruncated}, "truncated"},
		{"truncated new state", func(t *testing.T, h *harness) {
			h.origin.setFault(truncate, under("/states/"))
			h.tree.release(t, "1.0.5")
		}, []error{resolver.ErrOrigin, resolver.ErrTruncated}, "truncated"},
		{"garbage JSON pointer", func(t *testing.T, h *harness) { h.origin.serve(ptrName, []byte(`{"format":1,"app":`)) },
			[]error{resolver.ErrInvalidPointer}, "invalid_pointer"},
		{"signed by another key", func(t *testing.T, h *harness) {
			p := h.tree.pointer(t)
			p.Seq++
			p.Sign(signingKey("intruder"), h.clk.Now().Add(time.Hour))
			h.origin.serve(ptrName, encodePointer(t, p))
		}, []error{resolver.ErrWrongKey}, "wrong_key"},
		{"unsigned", func(t *testing.T, h *harness) {
			p := h.tree.pointer(t)
			p.Seq++
			p.Signature, p.SignKey, p.Expires = "", "", nil
			h.origin.serve(ptrName, encodePointer(t, p))
		}, []error{manifest.ErrUnsigned}, "unsigned"},
		{"tampered state digest", func(t *testing.T, h *harness) {
			p := h.tree.pointer(t)
			p.State = manifest.Sum([]byte("another state"))
			h.origin.serve(ptrName, encodePointer(t, p))
		}, []error{manifest.ErrBadSignature}, "bad_signature"},
		{"older sequence", func(t *testing.T, h *harness) {
			old := h.tree.read(t, ptrName)
			h.tree.release(t, "1.0.5")
			require.Equal(t, "1.0.5", h.offered(t))
			require.NoError(t, h.lastErr(t))
			h.origin.serve(ptrName, old)
		}, []error{resolver.ErrRollback}, "rollback"},
		{"expired pointer", func(t *testing.T, h *harness) { h.clk.Add(signTTL + time.Minute) },
			[]error{resolver.ErrFrozen, manifest.ErrExpired}, "frozen"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t, resolver.OriginConfig{Timeout: 300 * time.Millisecond})
			h.tree.release(t, "1.0.1")
			require.Equal(t, "1.0.1", h.offered(t))
			require.NoError(t, h.lastErr(t))

			tc.inject(t, h)
			live := h.cat.Pointer(testApp)
			for range 2 {
				assert.Equal(t, live.Seq, h.cat.Pointer(testApp).Seq, "the last good state keeps serving")
				want := map[uint64]string{1: "1.0.1", 2: "1.0.5"}[live.Seq]
				assert.Equal(t, want, h.offered(t), "answer during the fault")
				err := h.lastErr(t)
				require.Error(t, err, "the fault reaches Observe")
				for _, target := range tc.want {
					assert.ErrorIs(t, err, target)
				}
				assert.Equal(t, tc.label, resolver.FailureLabel(err), "FailureLabel(%v)", err)
			}

			h.origin.heal()
			h.tree.release(t, "1.1.0")
			assert.Equal(t, "1.1.0", h.offered(t), "after the origin heals")
			assert.NoError(t, h.lastErr(t))
		})
	}
}

func encodePointer(t *testing.T, p *manifest.Pointer) []byte {
	t.Helper()
	b, err := manifest.EncodePointer(p)
	require.NoError(t, err)
	return b
}

// TestOrigin_StaleIfError checks that a pointer is served from the cache
// while the origin fails, for the configured window only, and that the
// Catalog still sees the failure.
func TestOrigin_StaleIfError(t *testing.T) {
	t.Parallel()
	h := newHarness(t, resolver.OriginConfig{StaleIfError: time.Hour})
	h.tree.release(t, "1.0.1")
	require.Equal(t, "1.0.1", h.offered(t))
	ptrURL := h.url + "/files/" + manifest.PointerPath(testApp)
	want := h.tree.read(t, manifest.PointerPath(testApp))
	assert.Equal(t, want, get(t, ptrURL, http.StatusOK))

	h.origin.setFault(status500, nil)
	h.clk.Add(30 * time.Minute)
	assert.Equal(t, want, get(t, ptrURL, http.StatusOK), "stale copy within the window")
	assert.Equal(t, "1.0.1", h.offered(t))
	assert.ErrorIs(t, h.lastErr(t), resolver.ErrOriginStatus, "the catalog sees through the stale copy")
	assert.Positive(t, h.src.Stats().Stale)

	h.clk.Add(31 * time.Minute)
	get(t, ptrURL, http.StatusNotFound)
	assert.Equal(t, "1.0.1", h.offered(t), "the catalog's last good state outlives the window")

	h.origin.heal()
	assert.Equal(t, want, get(t, ptrURL, http.StatusOK))
}

// TestOrigin_Files checks the resolver's file server over an origin: whole
// objects, ranges, and a truncated body that is not cached.
func TestOrigin_Files(t *testing.T) {
	t.Parallel()
	h := newHarness(t, resolver.OriginConfig{})
	res := h.tree.release(t, "1.0.1")
	zipName := res.Bundle.Zip.Path
	zip := h.tree.read(t, zipName)

	h.origin.setFault(truncate, only(zipName))
	get(t, h.url+"/files/"+zipName, http.StatusNotFound)
	h.origin.heal()
	assert.Equal(t, zip, get(t, h.url+"/files/"+zipName, http.StatusOK))
	assert.Equal(t, 2, h.origin.count(zipName), "the truncated body was not cached")

	req, err := http.NewRequest(http.MethodGet, h.url+"/files/"+zipName, nil)
	require.NoError(t, err)
	req.Header.Set("Range", "bytes=10-19")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	part, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, zip[10:20], part)
	assert.Equal(t, 2, h.origin.count(zipName), "the range came from the cache")
	assert.Equal(t, []string{"capstatic/test"}, h.origin.userAgents())
}

func get(t *testing.T, url string, status int) []byte {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, status, resp.StatusCode, "GET %s: %s", url, b)
	return b
}

// TestOrigin_UnknownApp checks that a missing app is fs.ErrNotExist and
// that the Catalog remembers it for its NegativeTTL.
func TestOrigin_UnknownApp(t *testing.T) {
	t.Parallel()
	h := newHarness(t, resolver.OriginConfig{})
	h.cat.NegativeTTL = time.Minute
	_, err := h.src.Open(context.Background(), "com.example.none/current.json")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	for range 3 {
		_, err = h.cat.App(context.Background(), "com.example.other")
		assert.ErrorIs(t, err, resolver.ErrUnknownApp)
	}
	assert.Equal(t, 1, h.origin.count("com.example.other/current.json"), "negative caching")
	h.clk.Add(2 * time.Minute)
	h.cat.App(context.Background(), "com.example.other")
	assert.Equal(t, 2, h.origin.count("com.example.other/current.json"))
}

// TestNewOrigin_Invalid checks that only http(s) URLs are origins.
func TestNewOrigin_Invalid(t *testing.T) {
	for _, base := range []string{"", "ftp://example.com/t", "https://", "/var/tree", "https://example.com/t#x"} {
		_, err := resolver.NewOrigin(base, resolver.OriginConfig{})
		assert.Error(t, err, "NewOrigin(%q)", base)
	}
}
