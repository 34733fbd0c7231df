package resolver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"io/fs"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/publishtest"
	"github.com/capstatic/capstatic/publish/s3"
	"github.com/capstatic/capstatic/resolver"
)

// s3Fixture is a versitygw bucket, written with the publisher's S3 store
// and read by an S3Source through a proxy that records every request.
type s3Fixture struct {
	gw    *publishtest.VersityGW
	store *s3.Store
	src   *resolver.S3Source

	mu   sync.Mutex
	reqs []string // "METHOD /bucket/key RANGE"
}

const s3Prefix = "updates/tree"

func newS3Fixture(t *testing.T) *s3Fixture {
	t.Helper()
	ctx := context.Background()
	x := &s3Fixture{gw: publishtest.StartVersityGW(t)}
	var err error
	x.store, err = s3.New(ctx, s3.Config{Endpoint: x.gw.Endpoint, Region: x.gw.Region, Bucket: x.gw.Bucket,
		Prefix: s3Prefix, AccessKey: x.gw.AccessKey, SecretKey: x.gw.SecretKey, PathStyle: true, Insecure: true})
	require.NoError(t, err)

	// The proxy keeps the Host header the client signed (SigV4).
	target := &url.URL{Scheme: "http", Host: x.gw.Endpoint}
	rp := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host
	}}
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		x.mu.Lock()
		x.reqs = append(x.reqs, strings.TrimSpace(r.Method+" "+r.URL.Path+" "+r.Header.Get("Range")))
		x.mu.Unlock()
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(proxy.Close)
	x.src, err = resolver.NewS3Source(ctx, resolver.S3Config{Endpoint: proxy.URL, Region: x.gw.Region,
		Bucket: x.gw.Bucket, Prefix: "/" + s3Prefix + "/", AccessKey: x.gw.AccessKey, SecretKey: x.gw.SecretKey,
		PathStyle: true})
	require.NoError(t, err)
	x.requests() // forget the bucket check
	return x
}

// requests returns the requests the source sent since the last call.
func (x *s3Fixture) requests() []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	r := x.reqs
	x.reqs = nil
	return r
}

// read returns the object at the tree path name, read with the publisher's
// store.
func (x *s3Fixture) read(t *testing.T, name string) []byte {
	t.Helper()
	rc, err := x.store.Open(context.Background(), name)
	require.NoError(t, err)
	defer rc.Close()
	b, err := io.ReadAll(rc)
	require.NoError(t, err)
	return b
}

// key returns the request path of the tree path name.
func (x *s3Fixture) key(name string) string {
	return "/" + x.gw.Bucket + "/" + s3Prefix + "/" + name
}

// TestS3Source_Resolver publishes a release to S3 with the real publisher
// and serves it from the bucket: an update answer, a ranged download of its
// zip, and the answer for an app the bucket does not hold.
func TestS3Source_Resolver(t *testing.T) {
	t.Parallel()
	x := newS3Fixture(t)
	ctx := context.Background()
	build := fstest.MapFS{"index.html": {Data: []byte("<html>1.0.1</html>")}, "app.js": {Data: []byte("console.log('1.0.1')")}}
	res, err := (&publish.Publisher{Store: x.store, TempDir: t.TempDir()}).Publish(ctx,
		publish.Release{App: testApp, Version: "1.0.1", Channel: "production", Build: build})
	require.NoError(t, err)
	zipName := res.Bundle.Zip.Path
	zip := x.read(t, zipName)
	require.Greater(t, len(zip), 100)
	ptr, err := manifest.DecodePointer(x.read(t, manifest.PointerPath(testApp)))
	require.NoError(t, err)

	var (
		mu       sync.Mutex
		observed []string
	)
	var h http.Handler
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	cat := resolver.NewCatalog(x.src, resolver.URLs{Files: srv.URL + "/files", Builtin: srv.URL + "/builtin"}, nil)
	cat.Observe = func(app string, _ bool, err error) {
		mu.Lock()
		defer mu.Unlock()
		observed = append(observed, app)
		assert.NoError(t, err, "reload of %s", app)
	}
	h = resolver.NewServer(resolver.Config{Catalog: cat, Files: x.src})
	x.requests()

	resp, err := http.Post(srv.URL+"/updates", "application/json", bytes.NewReader(request(nil)))
	require.NoError(t, err)
	var got map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "answer %v", got)
	assert.Equal(t, "1.0.1", got["version"])
	require.Equal(t, srv.URL+"/files/"+zipName, got["url"])
	assert.Equal(t, []string{"GET " + x.key(manifest.PointerPath(testApp)), "GET " + x.key(manifest.StatePath(testApp, ptr.State))},
		x.requests(), "one GET per object the catalog reads")

	req, err := http.NewRequest(http.MethodGet, got["url"].(string), nil)
	require.NoError(t, err)
	req.Header.Set("Range", "bytes=10-19")
	resp, err = http.DefaultClient.Do(req)
	require.NoError(t, err)
	part, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
	assert.Equal(t, "bytes 10-19/"+strconv.Itoa(len(zip)), resp.Header.Get("Content-Range"))
	assert.Equal(t, zip[10:20], part)
	assert.Equal(t, []string{"GET " + x.key(zipName)}, x.requests(), "a short skip reads on in the first answer")

	whole := get(t, got["url"].(string), http.StatusOK)
	assert.Equal(t, zip, whole)
	assert.Len(t, x.requests(), 1)

	resp, err = http.Post(srv.URL+"/updates", "application/json",
		bytes.NewReader(request(map[string]any{"app_id": "com.example.missing"})))
	require.NoError(t, err)
	got = nil
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	resp.Body.Close()
	assert.Equal(t, http.StatusTooManyRequests, resp.StatusCode)
	assert.Equal(t, "on_premise_app", got["error"])
	get(t, srv.URL+"/files/com.example.missing/current.json", http.StatusNotFound)
	mu.Lock()
	assert.Equal(t, []string{testApp}, observed, "a missing app is fs.ErrNotExist, not a failed read")
	mu.Unlock()
}

// TestS3Source_Open checks the file an S3Source opens: its FileInfo, a
// read in one request, seeks served by reading on or by a ranged request,
// reads past the end, and errors.
func TestS3Source_Open(t *testing.T) {
	t.Parallel()
	x := newS3Fixture(t)
	ctx := context.Background()
	const name = "com.example.app/bundles/x/bundle.zip"
	data := make([]byte, 1<<20+17)
	rand.NewChaCha8([32]byte{1}).Read(data)
	before := time.Now().Add(-2 * time.Second)
	require.NoError(t, x.store.Put(ctx, name, bytes.NewReader(data), int64(len(data))))

	f, err := x.src.Open(ctx, name)
	require.NoError(t, err)
	st, err := f.Stat()
	require.NoError(t, err)
	assert.Equal(t, "bundle.zip", st.Name())
	assert.Equal(t, int64(len(data)), st.Size())
	assert.False(t, st.IsDir())
	assert.True(t, st.ModTime().After(before) && st.ModTime().Before(time.Now().Add(2*time.Second)), "modtime %v", st.ModTime())
	b, err := io.ReadAll(f)
	require.NoError(t, err)
	assert.Equal(t, data, b)
	assert.Equal(t, []string{"GET " + x.key(name)}, x.requests(), "Open and a whole read are one GET")
	require.NoError(t, f.Close())
	_, err = f.Read(make([]byte, 1))
	assert.ErrorIs(t, err, fs.ErrClosed)

	f, err = x.src.Open(ctx, name)
	require.NoError(t, err)
	defer f.Close()
	rs := f.(io.ReadSeeker)
	readAt := func(off int64, n int) []byte {
		t.Helper()
		pos, err := rs.Seek(off, io.SeekStart)
		require.NoError(t, err)
		require.Equal(t, off, pos)
		buf := make([]byte, n)
		_, err = io.ReadFull(rs, buf)
		require.NoError(t, err, "read %d bytes at %d", n, off)
		return buf
	}
	end, err := rs.Seek(0, io.SeekEnd)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), end)
	assert.Equal(t, data[:10], readAt(0, 10), "back to where the answer is")
	assert.Equal(t, data[1000:1100], readAt(1000, 100), "a short skip")
	assert.Equal(t, []string{"GET " + x.key(name)}, x.requests())
	assert.Equal(t, data[900<<10:900<<10+64], readAt(900<<10, 64), "a long skip")
	assert.Equal(t, data[5:25], readAt(5, 20), "backwards")
	assert.Equal(t, []string{"GET " + x.key(name) + " bytes=921600-", "GET " + x.key(name) + " bytes=5-"}, x.requests())
	tail := readAt(int64(len(data))-7, 7)
	assert.Equal(t, data[len(data)-7:], tail)
	n, err := rs.Read(make([]byte, 8))
	assert.Equal(t, 0, n)
	assert.ErrorIs(t, err, io.EOF)
	_, err = rs.Seek(int64(len(data))+10, io.SeekStart)
	require.NoError(t, err, "seeking past the end is allowed")
	_, err = rs.Read(make([]byte, 8))
	assert.ErrorIs(t, err, io.EOF)
	_, err = rs.Seek(-1, io.SeekStart)
	assert.ErrorIs(t, err, fs.ErrInvalid)
	x.requests()

	// The object is replaced while the file is open: a new range must not
	// mix the two versions.
	changed := bytes.Clone(data)
	changed[len(changed)-1]++
	require.NoError(t, x.store.Put(ctx, name, bytes.NewReader(changed), int64(len(changed))))
	_, err = rs.Seek(100, io.SeekStart)
	require.NoError(t, err)
	_, err = io.ReadAll(rs)
	var resp minio.ErrorResponse
	require.ErrorAs(t, err, &resp, "If-Match refuses the new version")
	assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode)
	assert.NotErrorIs(t, err, fs.ErrNotExist)

	// An empty object.
	require.NoError(t, x.store.Put(ctx, "com.example.app/files/empty", bytes.NewReader(nil), 0))
	f, err = x.src.Open(ctx, "com.example.app/files/empty")
	require.NoError(t, err)
	b, err = io.ReadAll(f)
	require.NoError(t, err)
	assert.Empty(t, b)
	require.NoError(t, f.Close())
	x.requests()

	_, err = x.src.Open(ctx, "com.example.none/current.json")
	assert.ErrorIs(t, err, fs.ErrNotExist)
	for _, bad := range []string{"", ".", "/abs", "../x", "a/../b", `a\b`, "a//b", "a/"} {
		_, err := x.src.Open(ctx, bad)
		assert.ErrorIs(t, err, fs.ErrInvalid, "Open(%q)", bad)
	}
	assert.Equal(t, []string{"GET " + x.key("com.example.none/current.json")}, x.requests(), "invalid names send nothing")

	cctx, cancel := context.WithCancel(ctx)
	cancel()
	_, err = x.src.Open(cctx, name)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestNewS3Source_Invalid checks the configurations NewS3Source refuses,
// including a bucket the server does not have.
func TestNewS3Source_Invalid(t *testing.T) {
	t.Parallel()
	gw := publishtest.StartVersityGW(t)
	ctx := context.Background()
	ok := resolver.S3Config{Endpoint: "http://" + gw.Endpoint, Region: gw.Region, Bucket: gw.Bucket,
		AccessKey: gw.AccessKey, SecretKey: gw.SecretKey, PathStyle: true}
	_, err := resolver.NewS3Source(ctx, ok)
	require.NoError(t, err)
	for name, edit := range map[string]func(*resolver.S3Config){
		"no bucket":      func(c *resolver.S3Config) { c.Bucket = "" },
		"missing bucket": func(c *resolver.S3Config) { c.Bucket = "capstatic-none" },
		"bad prefix":     func(c *resolver.S3Config) { c.Prefix = "a/../b" },
		"bad endpoint":   func(c *resolver.S3Config) { c.Endpoint = "ftp://" + gw.Endpoint },
		"endpoint path":  func(c *resolver.S3Config) { c.Endpoint = "http://" + gw.Endpoint + "/x" },
	} {
		cfg := ok
		edit(&cfg)
		_, err := resolver.NewS3Source(ctx, cfg)
		assert.Error(t, err, name)
	}
}
