package s3_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"math/rand/v2"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/signer"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/publishtest"
	"github.com/capstatic/capstatic/publish/s3"
)

// TestStore runs the conformance suite against versitygw, each case under
// its own prefix of one bucket, once the server has shown that it refuses
// stale conditional writes (else the Swap cases could pass by luck).
func TestStore(t *testing.T) {
	gw := publishtest.StartVersityGW(t)
	if !t.Run("ServerRefusesStaleWrites", func(t *testing.T) { testServerConditions(t, gw) }) {
		t.Fatal("the server does not honour If-Match/If-None-Match; Swap cannot be tested on it")
	}
	publishtest.TestStore(t, func(t *testing.T) publish.Store { return newStore(t, gw, prefixFor(t)) })
}

// testServerConditions sends signed conditional PUTs straight to the server,
// bypassing minio-go's PutObject and the Store, and checks the status codes.
func testServerConditions(t *testing.T, gw *publishtest.VersityGW) {
	const key = "raw/current.json"
	resp := rawPut(t, gw, key, "v1", nil)
	require.Equal(t, http.StatusOK, resp.StatusCode, "unconditional PUT")
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag, "ETag of the unconditional PUT")

	stale := `"0123456789abcdef0123456789abcdef"`
	resp = rawPut(t, gw, key, "v2", http.Header{"If-Match": {stale}})
	assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode, "PUT If-Match: stale ETag")
	resp = rawPut(t, gw, key, "v2", http.Header{"If-None-Match": {"*"}})
	assert.Equal(t, http.StatusPreconditionFailed, resp.StatusCode, "PUT If-None-Match: * on an existing object")
	assert.Equal(t, "v1", rawGet(t, gw, key), "content after refused PUTs")

	resp = rawPut(t, gw, key, "v3", http.Header{"If-Match": {etag}})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "PUT If-Match: current ETag")
	resp = rawPut(t, gw, "raw/new.json", "n", http.Header{"If-None-Match": {"*"}})
	assert.Equal(t, http.StatusOK, resp.StatusCode, "PUT If-None-Match: * on a missing object")
}

func rawPut(t *testing.T, gw *publishtest.VersityGW, key, body string, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPut,
		"http://"+gw.Endpoint+"/"+gw.Bucket+"/"+key, strings.NewReader(body))
	require.NoError(t, err)
	for k, v := range h {
		req.Header[k] = v
	}
	sum := sha256.Sum256([]byte(body))
	req.Header.Set("X-Amz-Content-Sha256", hex.EncodeToString(sum[:]))
	req = signer.SignV4(*req, gw.AccessKey, gw.SecretKey, "", gw.Region)
	resp, err := loopbackClient.Do(req)
	require.NoError(t, err, "PUT %s", key)
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func rawGet(t *testing.T, gw *publishtest.VersityGW, key string) string {
	t.Helper()
	obj, err := client(t, gw).GetObject(t.Context(), gw.Bucket, key, minio.GetObjectOptions{})
	require.NoError(t, err)
	defer obj.Close()
	b, err := io.ReadAll(obj)
	require.NoError(t, err, "GET %s", key)
	return string(b)
}

// client returns a minio-go client for gw, for checks that bypass the Store.
func client(t *testing.T, gw *publishtest.VersityGW) *minio.Client {
	t.Helper()
	c, err := minio.New(gw.Endpoint, &minio.Options{
		Creds:        credentials.NewStaticV4(gw.AccessKey, gw.SecretKey, ""),
		Region:       gw.Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
	})
	require.NoError(t, err)
	return c
}

// loopbackClient talks to test servers directly, never through a proxy.
var loopbackClient = &http.Client{Transport: &http.Transport{Proxy: nil}, Timeout: 10 * time.Second}

func newStore(t *testing.T, gw *publishtest.VersityGW, prefix string) *s3.Store {
	t.Helper()
	s, err := s3.New(t.Context(), s3.Config{
		Endpoint:  gw.Endpoint,
		Region:    gw.Region,
		Bucket:    gw.Bucket,
		Prefix:    prefix,
		AccessKey: gw.AccessKey,
		SecretKey: gw.SecretKey,
		PathStyle: true,
		Insecure:  true,
		Retries:   2,
	})
	require.NoError(t, err, "s3.New")
	return s
}

var unsafePrefixChars = regexp.MustCompile(`[^A-Za-z0-9/_-]+`)

// prefixFor returns a prefix unique to the test, so that tests share a
// bucket without seeing each other's objects.
func prefixFor(t *testing.T) string {
	return unsafePrefixChars.ReplaceAllString(t.Name(), "_")
}

// TestStore_Keys checks that an object's name is exactly the prefix and the
// tree path, and that JSON and zip files get their media types.
func TestStore_Keys(t *testing.T) {
	gw := publishtest.StartVersityGW(t)
	s := newStore(t, gw, "/tree/updates/")
	for key, typ := range map[string]string{
		"com.example.app/current.json":            "application/json",
		"com.example.app/bundles/0a1b/bundle.zip": "application/zip",
		"com.example.app/files/c2d3.br":           "application/octet-stream",
	} {
		require.NoError(t, s.Put(t.Context(), key, strings.NewReader(key), -1), "Put(%q)", key)
		oi, err := client(t, gw).StatObject(t.Context(), gw.Bucket, "tree/updates/"+key, minio.StatObjectOptions{})
		require.NoError(t, err, "object of key %q", key)
		assert.Equal(t, typ, oi.ContentType, "Content-Type of %q", key)
		assert.Equal(t, key, rawGet(t, gw, "tree/updates/"+key), "content of %q", key)
	}
}

// TestStore_Multipart streams an object larger than one request's worth
// (16 MiB), so Put uploads it in parts, and swaps it with its multipart ETag.
func TestStore_Multipart(t *testing.T) {
	gw := publishtest.StartVersityGW(t)
	s := newStore(t, gw, prefixFor(t))
	data := make([]byte, 17<<20+123)
	_, _ = rand.NewChaCha8([32]byte{7}).Read(data)
	const key = "app/bundles/big/bundle.zip"
	require.NoError(t, s.Put(t.Context(), key, struct{ io.Reader }{bytes.NewReader(data)}, -1))
	info, err := s.Stat(t.Context(), key)
	require.NoError(t, err)
	assert.Equal(t, int64(len(data)), info.Size)
	rc, err := s.Open(t.Context(), key)
	require.NoError(t, err)
	got, err := io.ReadAll(rc)
	rc.Close()
	require.NoError(t, err)
	assert.Equal(t, sha256.Sum256(data), sha256.Sum256(got), "sha256 of the object read back")

	require.NoError(t, s.Swap(t.Context(), key, strings.NewReader("small"), 5, info.ETag), "Swap from a multipart ETag")
	err = s.Swap(t.Context(), key, strings.NewReader("again"), 5, info.ETag)
	assert.ErrorIs(t, err, publish.ErrConflict, "Swap from the stale multipart ETag")
}

func TestNew_MissingBucket(t *testing.T) {
	gw := publishtest.StartVersityGW(t)
	gw.Bucket = "no-such-bucket"
	_, err := s3.New(t.Context(), s3.Config{
		Endpoint: "http://" + gw.Endpoint, Region: gw.Region, Bucket: gw.Bucket,
		AccessKey: gw.AccessKey, SecretKey: gw.SecretKey, Retries: -1,
	})
	assert.ErrorContains(t, err, `bucket "no-such-bucket" does not exist`)
}
