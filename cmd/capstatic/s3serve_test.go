package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish/publishtest"
)

// TestServe_S3 publishes to a bucket (versitygw) and serves the bucket
// with "capstatic serve --store s3://…" and "r2://…": an update answer, a
// ranged download of its zip, and an unknown app. The endpoint, region and
// credentials reach serve the way they reach publish: flags or AWS_*.
func TestServe_S3(t *testing.T) {
	const app = "com.example.s3serve"
	gw := publishtest.StartVersityGW(t)
	t.Setenv("AWS_ACCESS_KEY_ID", gw.AccessKey)
	t.Setenv("AWS_SECRET_ACCESS_KEY", gw.SecretKey)
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_ENDPOINT_URL_S3", "")
	t.Setenv("AWS_REGION", gw.Region)

	build := t.TempDir()
	for name, body := range map[string]string{
		"index.html":    "<!doctype html><script src=assets/app.js></script><p>s3 serve</p>",
		"assets/app.js": "window.CapacitorUpdater && CapacitorUpdater.notifyAppReady(); // " + strings.Repeat("s3 ", 200),
	} {
		p := filepath.Join(build, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	endpoint := "http://" + gw.Endpoint
	store := "s3://" + gw.Bucket + "/serve/tree"
	cliMust(t, "publish", build, "--app", app, "--version", "1.0.1", "--quiet",
		"--store", store, "--s3-endpoint", endpoint, "--s3-path-style")

	check := func(t *testing.T, base string) {
		t.Helper()
		status, got := postUpdate(t, base, app)
		require.Equal(t, http.StatusOK, status, "answer %v", got)
		assert.Equal(t, "1.0.1", got["version"])
		zipURL, _ := got["url"].(string)
		require.True(t, strings.HasPrefix(zipURL, base+"/files/"), "zip url %q", zipURL)

		resp, err := http.Get(zipURL)
		require.NoError(t, err)
		zip, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.True(t, bytes.HasPrefix(zip, []byte("PK\x03\x04")), "a zip")
		require.Greater(t, len(zip), 40)

		req, err := http.NewRequest(http.MethodGet, zipURL, nil)
		require.NoError(t, err)
		req.Header.Set("Range", "bytes=30-39")
		resp, err = http.DefaultClient.Do(req)
		require.NoError(t, err)
		part, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		assert.Equal(t, http.StatusPartialContent, resp.StatusCode)
		assert.Equal(t, "bytes 30-39/"+strconv.Itoa(len(zip)), resp.Header.Get("Content-Range"))
		assert.Equal(t, zip[30:40], part)

		status, got = postUpdate(t, base, "com.example.missing")
		assert.Equal(t, http.StatusTooManyRequests, status)
		assert.Equal(t, "on_premise_app", got["error"])
	}

	t.Run("S3", func(t *testing.T) {
		t.Setenv("AWS_ENDPOINT_URL", endpoint) // instead of --s3-endpoint
		check(t, cliServe(t, "--store", store, "--s3-path-style"))
	})
	t.Run("R2", func(t *testing.T) {
		// r2:// derives the endpoint and region "auto"; the flags override
		// both, as they do for publish.
		check(t, cliServe(t, "--store", "r2://0123456789abcdef/"+gw.Bucket+"/serve/tree",
			"--s3-endpoint", endpoint, "--s3-region", gw.Region, "--s3-path-style"))
	})
	t.Run("Errors", func(t *testing.T) {
		code, _, errs := cliRun(t, "", "serve", "--store", "r2://0123456789abcdef")
		assert.Equal(t, exitUsage, code, errs)
		assert.Contains(t, errs, "r2://ACCOUNT_ID/BUCKET")
		code, _, errs = cliRun(t, "", "serve", "--store", "s3://capstatic-none/tree", "--s3-endpoint", endpoint,
			"--s3-path-style", "--addr", "127.0.0.1:0")
		assert.NotEqual(t, 0, code)
		assert.Contains(t, errs, "capstatic-none")
	})
}

// postUpdate asks the resolver at base for an update of app as a device on
// its builtin bundle.
func postUpdate(t *testing.T, base, app string) (int, map[string]any) {
	t.Helper()
	body, err := json.Marshal(map[string]any{"app_id": app, "device_id": "00000000-0000-4000-8000-000000000001",
		"version_name": "builtin", "version_build": "1.0.0", "version_code": "1", "version_os": "14",
		"plugin_version": "8.51.23", "platform": "android", "is_emulator": false, "is_prod": true,
		"defaultChannel": "", "custom_id": ""})
	require.NoError(t, err)
	resp, err := http.Post(base+"/updates", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var got map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&got))
	return resp.StatusCode, got
}
