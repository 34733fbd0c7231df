package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
)

// TestServe_Origin serves a tree from a plain HTTP file server (as GitHub
// Pages or an S3 website would) with signatures checked: answers, file
// downloads through the cache, a publish picked up, and the last good
// state kept when the origin goes away.
func TestServe_Origin(t *testing.T) {
	t.Parallel()
	key := sgnKey(t)
	tree := t.TempDir()
	sgnPublish(t, tree, "1.0.1", "--signing-key", key)
	origin := httptest.NewServer(http.FileServer(http.Dir(tree)))
	defer origin.Close()

	base, logs := sgnServe(t, "--store", origin.URL+"/", "--signing-pub", key+".pub",
		"--cache-bytes", "8MiB", "--stale-if-error", "1h", "--origin-timeout", "2s")
	assert.Equal(t, "1.0.1", sgnOffered(t, base))

	_, got := sgnUpdate(t, base)
	zipURL, _ := got["url"].(string)
	require.NotEmpty(t, zipURL, "answer %v", got)
	rel, ok := strings.CutPrefix(zipURL, base+"/files/")
	require.True(t, ok, "zip url %s is served here", zipURL)
	want, err := os.ReadFile(filepath.Join(tree, filepath.FromSlash(rel)))
	require.NoError(t, err)
	assert.Equal(t, want, httpBody(t, zipURL))

	sgnPublish(t, tree, "1.0.2", "--signing-key", key)
	assert.Equal(t, "1.0.2", sgnOffered(t, base), "a publish is picked up through the cache")

	origin.CloseClientConnections()
	origin.Close()
	assert.Equal(t, "1.0.2", sgnOffered(t, base), "the origin is gone: the last good state serves")
	assert.Equal(t, sgnPointerBytes(t, tree), httpBody(t, base+"/files/"+manifest.PointerPath(sgnApp)),
		"the pointer is served stale")
	assert.Contains(t, logs.String(), "keeping the last good one")
}

func httpBody(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s: %s", url, b)
	return b
}

func TestServe_OriginFlags(t *testing.T) {
	t.Parallel()
	key := sgnKey(t)
	tree := t.TempDir()
	cases := []struct {
		name string
		args []string
		code int
		msg  string
	}{
		{"unsupported scheme", []string{"--store", "ftp://example.com/tree"}, exitUsage, "http(s)://"},
		{"origin without host", []string{"--store", "https://"}, exitUsage, "want http(s)://HOST/PATH"},
		{"bad size", []string{"--store", tree, "--cache-bytes", "lots"}, exitUsage, "256MiB"},
		{"trust state alone", []string{"--store", tree, "--trust-state", filepath.Join(tree, "t.json")}, exitUsage, "--signing-pub"},
		{"private key as public", []string{"--store", tree, "--signing-pub", key}, exitFailure, "is a private key"},
		{"missing public key", []string{"--store", tree, "--signing-pub", filepath.Join(tree, "none.pub")}, exitFailure, "none.pub"},
	}
	for _, tc := range cases {
		code, _, errs := cliRun(t, "", append([]string{"serve", "--addr", "127.0.0.1:0", "--stats", "none"}, tc.args...)...)
		assert.Equal(t, tc.code, code, "%s: %s", tc.name, errs)
		assert.Contains(t, errs, tc.msg, tc.name)
	}
}

func TestByteSize(t *testing.T) {
	cases := []struct {
		in   string
		want int64
		str  string
	}{
		{"1048576", 1 << 20, "1MiB"},
		{"256MiB", 256 << 20, "256MiB"},
		{"1GiB", 1 << 30, "1GiB"},
		{"1536KiB", 1536 << 10, "1536KiB"},
		{"10KB", 10000, "10000"},
		{"2 MB", 2e6, "2000000"},
		{"100B", 100, "100"},
		{"0", 0, "0"},
	}
	for _, tc := range cases {
		var b byteSize
		require.NoError(t, b.Set(tc.in), "Set(%q)", tc.in)
		assert.Equal(t, tc.want, int64(b), "Set(%q)", tc.in)
		assert.Equal(t, tc.str, b.String(), "Set(%q).String()", tc.in)
	}
	for _, in := range []string{"", "MiB", "1.5MiB", "-1", "1TiB", "99999999999GiB"} {
		var b byteSize
		assert.Error(t, b.Set(in), "Set(%q)", in)
	}
}
