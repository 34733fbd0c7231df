package resolver_test

import (
	"context"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/resolver"
)

// objName returns an immutable tree path named by seed's digest.
func objName(seed string) string {
	return testApp + "/bundles/" + manifest.Sum([]byte(seed)).String() + "/bundle.zip"
}

// writeTree writes files into a new folder.
func writeTree(t *testing.T, files map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for name, b := range files {
		writeFile(t, dir, name, b)
	}
	return dir
}

func writeFile(t *testing.T, dir, name string, b []byte) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, b, 0o644))
}

// observed records the hits told to OriginConfig.Observe.
type observed struct {
	mu   sync.Mutex
	hits []bool
}

func (o *observed) observe(hit bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.hits = append(o.hits, hit)
}

func (o *observed) get() []bool {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]bool(nil), o.hits...)
}

func newOrigin(t *testing.T, base string, cfg resolver.OriginConfig) (*resolver.Origin, *observed) {
	t.Helper()
	obs := &observed{}
	cfg.Observe = obs.observe
	o, err := resolver.NewOrigin(base, cfg)
	require.NoError(t, err)
	return o, obs
}

// readObject opens name and returns its bytes.
func readObject(t *testing.T, src resolver.Source, name string) ([]byte, error) {
	t.Helper()
	f, err := src.Open(context.Background(), name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

func TestOrigin_CacheHit(t *testing.T) {
	t.Parallel()
	name := objName("a")
	body := []byte(strings.Repeat("zip bytes ", 100))
	srv := newTestOrigin(t, writeTree(t, map[string][]byte{name: body}))
	o, obs := newOrigin(t, srv.srv.URL, resolver.OriginConfig{})

	for range 2 {
		got, err := readObject(t, o, name)
		require.NoError(t, err)
		assert.Equal(t, body, got)
	}
	assert.Equal(t, 1, srv.count(name), "origin requests")
	assert.Equal(t, []bool{false, true}, obs.get())
	st := o.Stats()
	assert.Equal(t, uint64(1), st.Hits)
	assert.Equal(t, uint64(1), st.Misses)

	f, err := o.Open(context.Background(), name)
	require.NoError(t, err)
	info, err := f.Stat()
	require.NoError(t, err)
	assert.Equal(t, "bundle.zip", info.Name())
	assert.Equal(t, int64(len(body)), info.Size())
	rs, ok := f.(io.ReadSeeker)
	require.True(t, ok, "the file is an io.ReadSeeker")
	_, err = rs.Seek(10, io.SeekStart)
	require.NoError(t, err)
	rest, err := io.ReadAll(rs)
	require.NoError(t, err)
	assert.Equal(t, body[10:], rest)
}

func TestOrigin_RevalidateETag(t *testing.T) {
	t.Parallel()
	name := manifest.PointerPath(testApp)
	dir := writeTree(t, map[string][]byte{name: []byte(`{"seq":1}`)})
	srv := newTestOrigin(t, dir)
	o, obs := newOrigin(t, srv.srv.URL, resolver.OriginConfig{})

	for range 2 {
		got, err := readObject(t, o, name)
		require.NoError(t, err)
		assert.Equal(t, `{"seq":1}`, string(got))
	}
	assert.Equal(t, 2, srv.count(name), "a mutable object is revalidated on every open")
	assert.Equal(t, 1, srv.revalidations(), "the second request was conditional")
	assert.Equal(t, uint64(1), o.Stats().Revalidated)
	assert.Equal(t, []bool{false, true}, obs.get(), "a 304 is a hit")

	writeFile(t, dir, name, []byte(`{"seq":2}`))
	got, err := readObject(t, o, name)
	require.NoError(t, err)
	assert.Equal(t, `{"seq":2}`, string(got))
	assert.Equal(t, uint64(1), o.Stats().Revalidated)
}

// lastModOrigin is http.FileServer (Last-Modified, no ETag) recording the
// If-Modified-Since headers it gets.
type lastModOrigin struct {
	mu    sync.Mutex
	conds []string
	codes []int
}

func (l *lastModOrigin) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h.ServeHTTP(rec, r)
		l.mu.Lock()
		defer l.mu.Unlock()
		l.conds = append(l.conds, r.Header.Get("If-Modified-Since"))
		l.codes = append(l.codes, rec.code)
	})
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (s *statusWriter) WriteHeader(code int) {
	s.code = code
	s.ResponseWriter.WriteHeader(code)
}

func TestOrigin_RevalidateLastModified(t *testing.T) {
	t.Parallel()
	name := manifest.PointerPath(testApp)
	dir := writeTree(t, map[string][]byte{name: []byte(`{"seq":1}`)})
	lm := &lastModOrigin{}
	srv := httptest.NewServer(lm.wrap(http.FileServer(http.Dir(dir))))
	t.Cleanup(srv.Close)
	o, _ := newOrigin(t, srv.URL, resolver.OriginConfig{})

	t.Run("Weak", func(t *testing.T) {
		// Two versions with the same Last-Modified second, which is not
		// at least a second before the answer's Date: revalidating with it
		// would get a 304 for the second version and keep the first.
		same := time.Now().Add(time.Hour).Truncate(time.Second)
		for _, v := range []string{`{"seq":1}`, `{"seq":2}`} {
			writeFile(t, dir, name, []byte(v))
			require.NoError(t, os.Chtimes(filepath.Join(dir, filepath.FromSlash(name)), same, same))
			got, err := readObject(t, o, name)
			require.NoError(t, err)
			assert.Equal(t, v, string(got))
		}
		lm.mu.Lock()
		defer lm.mu.Unlock()
		assert.Equal(t, []string{"", ""}, lm.conds, "no If-Modified-Since with a weak Last-Modified")
	})
	t.Run("Strong", func(t *testing.T) {
		old := time.Now().Add(-time.Hour)
		require.NoError(t, os.Chtimes(filepath.Join(dir, filepath.FromSlash(name)), old, old))
		for range 2 {
			got, err := readObject(t, o, name)
			require.NoError(t, err)
			assert.Equal(t, `{"seq":2}`, string(got))
		}
		lm.mu.Lock()
		defer lm.mu.Unlock()
		assert.NotEmpty(t, lm.conds[3], "If-Modified-Since sent")
		assert.Equal(t, http.StatusNotModified, lm.codes[3])
		assert.Equal(t, uint64(1), o.Stats().Revalidated)
	})
}

// gatedOrigin answers every request after release is closed.
type gatedOrigin struct {
	body     []byte
	release  chan struct{}
	requests atomic.Int32
}

func (g *gatedOrigin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.requests.Add(1)
	<-g.release
	w.Write(g.body)
}

func TestOrigin_SingleFlight(t *testing.T) {
	t.Parallel()
	g := &gatedOrigin{body: []byte("one object"), release: make(chan struct{})}
	srv := httptest.NewServer(g)
	t.Cleanup(srv.Close)
	o, obs := newOrigin(t, srv.URL, resolver.OriginConfig{})
	name := objName("flight")

	const n = 16
	var wg sync.WaitGroup
	got := make([][]byte, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { got[i], errs[i] = readObject(t, o, name) })
	}
	// A caller that gives up does not fail the others.
	ctx, cancel := context.WithCancel(context.Background())
	cancelled := make(chan error, 1)
	go func() {
		_, err := o.Open(ctx, name)
		cancelled <- err
	}()
	require.Eventually(t, func() bool { return g.requests.Load() == 1 }, 5*time.Second, time.Millisecond)
	time.Sleep(50 * time.Millisecond) // let the callers queue on the running fetch
	cancel()
	assert.ErrorIs(t, <-cancelled, context.Canceled)
	close(g.release)
	wg.Wait()
	for i := range n {
		require.NoError(t, errs[i])
		assert.Equal(t, g.body, got[i])
	}
	assert.Equal(t, int32(1), g.requests.Load(), "origin requests for %d concurrent misses", n)
	misses := 0
	for _, hit := range obs.get() {
		if !hit {
			misses++
		}
	}
	assert.Equal(t, 1, misses)
}

func TestOrigin_Evicts(t *testing.T) {
	t.Parallel()
	files := map[string][]byte{}
	var names []string
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		names = append(names, objName(s))
		files[objName(s)] = []byte(strings.Repeat(s, 1000))
	}
	big := objName("big")
	files[big] = []byte(strings.Repeat("B", 2000))
	srv := newTestOrigin(t, writeTree(t, files))
	// Each object costs about 1,370 bytes: four fit in 6,000, five do
	// not, and 2,000 bytes is more than a quarter of the bound.
	o, _ := newOrigin(t, srv.srv.URL, resolver.OriginConfig{CacheBytes: 6000})

	for _, name := range names {
		_, err := readObject(t, o, name)
		require.NoError(t, err)
	}
	st := o.Stats()
	assert.Equal(t, uint64(1), st.Evictions)
	assert.Equal(t, 4, st.Objects)
	assert.LessOrEqual(t, st.Bytes, int64(6000))

	_, err := readObject(t, o, names[4])
	require.NoError(t, err)
	assert.Equal(t, 1, srv.count(names[4]), "the newest object is still cached")
	_, err = readObject(t, o, names[0])
	require.NoError(t, err)
	assert.Equal(t, 2, srv.count(names[0]), "the oldest object was evicted")

	for range 2 {
		got, err := readObject(t, o, big)
		require.NoError(t, err)
		assert.Equal(t, files[big], got)
	}
	assert.Equal(t, 2, srv.count(big), "an object larger than a quarter of the cache is not kept")
}

func TestOrigin_Refuses(t *testing.T) {
	t.Parallel()
	stateBody := []byte(`{"app":"com.example.app"}`)
	stateName := manifest.StatePath(testApp, manifest.Sum(stateBody))
	wrongState := manifest.StatePath(testApp, manifest.Sum([]byte("other")))
	var mu sync.Mutex
	requests := map[string]int{}
	count := func(name string) int {
		mu.Lock()
		defer mu.Unlock()
		return requests[name]
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimPrefix(r.URL.Path, "/")
		mu.Lock()
		requests[name]++
		mu.Unlock()
		switch name {
		case "big-length":
			w.Write(make([]byte, 200))
		case "big-chunked":
			for range 4 {
				w.Write(make([]byte, 60))
				w.(http.Flusher).Flush()
			}
		case "gzip":
			w.Header().Set("Content-Encoding", "gzip")
			w.Write([]byte("x"))
		case "teapot":
			w.WriteHeader(http.StatusTeapot)
		case "gone":
			w.WriteHeader(http.StatusGone)
		case stateName, wrongState:
			w.Write(stateBody)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	o, _ := newOrigin(t, srv.URL+"/", resolver.OriginConfig{MaxObject: 100})

	cases := []struct {
		name string
		want []error
	}{
		{"big-length", []error{resolver.ErrOrigin, resolver.ErrTooLarge}},
		{"big-chunked", []error{resolver.ErrOrigin, resolver.ErrTooLarge}},
		{"gzip", []error{resolver.ErrOrigin}},
		{"teapot", []error{resolver.ErrOrigin, resolver.ErrOriginStatus}},
		{"gone", []error{fs.ErrNotExist}},
		{"missing", []error{fs.ErrNotExist}},
		{wrongState, []error{resolver.ErrOrigin, manifest.ErrDigestMismatch}},
		{"../escape", []error{fs.ErrInvalid}},
	}
	for _, tc := range cases {
		for range 2 {
			_, err := readObject(t, o, tc.name)
			for _, target := range tc.want {
				assert.ErrorIs(t, err, target, "Open(%q)", tc.name)
			}
		}
		if tc.name != "../escape" {
			assert.Equal(t, 2, count(tc.name), "Open(%q) is not cached", tc.name)
		}
	}
	var oe *resolver.OriginError
	_, err := readObject(t, o, "teapot")
	require.ErrorAs(t, err, &oe)
	assert.Equal(t, http.StatusTeapot, oe.Status)

	got, err := readObject(t, o, stateName)
	require.NoError(t, err, "a state whose bytes match its name")
	assert.Equal(t, stateBody, got)
}

// TestOrigin_Timeout checks that a bundle may take as long as it keeps
// arriving, while a stalled body and a slow pointer run out of time.
func TestOrigin_Timeout(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		for i := range 10 {
			if i == 5 && strings.HasSuffix(r.URL.Path, "stall.zip") {
				<-r.Context().Done()
				return
			}
			w.Write([]byte{'x'})
			w.(http.Flusher).Flush()
			time.Sleep(60 * time.Millisecond)
		}
	}))
	t.Cleanup(srv.Close)
	o, _ := newOrigin(t, srv.URL, resolver.OriginConfig{Timeout: 250 * time.Millisecond})

	got, err := readObject(t, o, testApp+"/bundles/slow.zip")
	require.NoError(t, err, "600ms of steady progress with a 250ms timeout")
	assert.Equal(t, "xxxxxxxxxx", string(got))
	_, err = readObject(t, o, testApp+"/bundles/stall.zip")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "stalled body")
	_, err = readObject(t, o, manifest.PointerPath(testApp))
	assert.ErrorIs(t, err, context.DeadlineExceeded, "a pointer must arrive whole within the timeout")
}
