package s3_test

import (
	"crypto/md5"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish/s3"
)

// fakeS3 is just enough of an S3 server, over httptest, to script failures
// that a real server does not produce on demand. It serves one bucket (and
// answers 403 for the bucket "forbidden"),
// honours If-Match and If-None-Match on PUT, and lets a test replace the
// answer to any PUT.
type fakeS3 struct {
	bucket string

	mu      sync.Mutex
	objects map[string][]byte
	puts    int
	// onPut, if set, is called for the n-th PUT (from 1) before the
	// conditions are checked; if it returns a status, the PUT answers that
	// status and S3 error code, having stored the body when apply is true.
	onPut func(n int) (status int, code string, apply bool)
}

func newFakeS3(t *testing.T) (*fakeS3, string) {
	t.Helper()
	f := &fakeS3{bucket: "fake", objects: make(map[string][]byte)}
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	return f, srv.URL
}

// store returns a Store on f that retries up to retries times.
func (f *fakeS3) store(t *testing.T, url string, retries int) *s3.Store {
	t.Helper()
	s, err := s3.New(t.Context(), s3.Config{Endpoint: url, Region: "us-east-1", Bucket: f.bucket, PathStyle: true, Retries: retries})
	require.NoError(t, err, "s3.New")
	return s
}

func etagOf(b []byte) string {
	sum := md5.Sum(b)
	return hex.EncodeToString(sum[:])
}

func (f *fakeS3) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket == "forbidden" {
		s3Error(w, http.StatusForbidden, "AccessDenied")
		return
	}
	if bucket != f.bucket {
		s3Error(w, http.StatusNotFound, "NoSuchBucket")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case key == "" && r.Method == http.MethodHead:
		w.WriteHeader(http.StatusOK)
	case r.Method == http.MethodPut:
		f.put(w, r, key)
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		b, ok := f.objects[key]
		if !ok {
			s3Error(w, http.StatusNotFound, "NoSuchKey")
			return
		}
		w.Header().Set("ETag", `"`+etagOf(b)+`"`)
		w.Header().Set("Last-Modified", "Mon, 02 Jan 2006 15:04:05 GMT")
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		if r.Method == http.MethodGet {
			_, _ = w.Write(b)
		}
	default:
		s3Error(w, http.StatusNotImplemented, "NotImplemented")
	}
}

func (f *fakeS3) put(w http.ResponseWriter, r *http.Request, key string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		s3Error(w, http.StatusBadRequest, "IncompleteBody")
		return
	}
	f.puts++
	if f.onPut != nil {
		if status, code, apply := f.onPut(f.puts); status != 0 {
			if apply {
				f.objects[key] = body
			}
			s3Error(w, status, code)
			return
		}
	}
	cur, exists := f.objects[key]
	ifMatch, ifNoneMatch := r.Header.Get("If-Match"), r.Header.Get("If-None-Match")
	switch {
	case ifMatch != "" && !exists:
		s3Error(w, http.StatusNotFound, "NoSuchKey")
		return
	case ifMatch != "" && strings.Trim(ifMatch, `"`) != etagOf(cur),
		ifNoneMatch == "*" && exists:
		s3Error(w, http.StatusPreconditionFailed, "PreconditionFailed")
		return
	}
	f.objects[key] = body
	w.Header().Set("ETag", `"`+etagOf(body)+`"`)
	w.WriteHeader(http.StatusOK)
}

func s3Error(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?>`+
		`<Error><Code>%s</Code><Message>fake %s</Message><RequestId>1</RequestId></Error>`, code, code)
}

func (f *fakeS3) object(key string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objects[key]
	return string(b), ok
}

func (f *fakeS3) setObject(key, content string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.objects[key] = []byte(content)
}

func (f *fakeS3) setOnPut(fn func(n int) (status int, code string, apply bool)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.onPut = fn
}

func (f *fakeS3) putCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.puts
}
