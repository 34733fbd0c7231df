package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/Masterminds/semver/v3"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const watchApp = "com.example.watch"

// startWatch runs "capstatic watch DIR" on a free loopback port until the
// test ends and returns its base URL and output streams.
func startWatch(t *testing.T, dir string) (base string, stdout, stderr *syncBuffer) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	ln.Close()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr = &syncBuffer{}, &syncBuffer{}
	done := make(chan int, 1)
	args := []string{"watch", dir, "--app", watchApp, "--addr", addr, "--store", t.TempDir(), "--log-level", "error"}
	go func() { done <- Run(ctx, args, nil, stdout, stderr) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			assert.Equal(t, exitOK, code, "watch exit status; stderr: %s", stderr.String())
		case <-time.After(15 * time.Second):
			t.Error("watch did not stop after its context was cancelled")
		}
	})
	base = "http://" + addr
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			return base, stdout, stderr
		}
		require.Less(t, i, 500, "watch never answered: %s", stderr.String())
		time.Sleep(20 * time.Millisecond)
	}
}

// watchCheck asks for an update as a debug build on channel dev and
// returns the version offered, or "" for a refusal.
func watchCheck(t *testing.T, base string) string {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"app_id": watchApp, "device_id": "6f1c2d3e-0000-4000-8000-0000000000bb",
		"version_name": "builtin", "version_build": "1.0.0", "version_code": "1", "version_os": "14",
		"plugin_version": "8.51.23", "platform": "android", "is_emulator": true, "is_prod": false,
		"custom_id": "", "defaultChannel": "dev"})
	resp, err := http.Post(base+"/updates", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m), "answer %s", raw)
	v, _ := m["version"].(string)
	return v
}

// waitVersion polls until the device is offered a version other than old.
func waitVersion(t *testing.T, base, old string) string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if v := watchCheck(t, base); v != "" && v != old {
			return v
		}
		require.True(t, time.Now().Before(deadline), "no new version after 10 s (still %q)", old)
		time.Sleep(25 * time.Millisecond)
	}
}

func writeFile(t *testing.T, p, body string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
	require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
}

// TestWatch: an empty folder publishes nothing; index.html appearing
// publishes a dev version a device on channel dev is offered; editor litter
// does not republish; a file in a new subfolder does, with a higher
// version.
func TestWatch(t *testing.T) {
	dir := t.TempDir()
	base, stdout, stderr := startWatch(t, dir)
	for _, want := range []string{"updateUrl:  " + base + "/updates", `"defaultChannel": "dev"`,
		`android:usesCleartextTraffic="true"`, "NSAllowsLocalNetworking", "NSAllowsArbitraryLoads"} {
		assert.Contains(t, stdout.String(), want)
	}
	assert.Empty(t, watchCheck(t, base), "nothing published yet")
	assert.Contains(t, stderr.String(), "no index.html")

	writeFile(t, filepath.Join(dir, "index.html"), "<p>one</p>")
	v1 := waitVersion(t, base, "")
	assert.Regexp(t, `^0\.0\.0-dev\.\d{14}\.\d+$`, v1)

	writeFile(t, filepath.Join(dir, "foo.swp"), "swap")
	writeFile(t, filepath.Join(dir, ".#index.html"), "lock")
	writeFile(t, filepath.Join(dir, "index.html~"), "backup")
	writeFile(t, filepath.Join(dir, "4913"), "")
	time.Sleep(time.Second)
	assert.Equal(t, v1, watchCheck(t, base), "editor litter does not republish")

	writeFile(t, filepath.Join(dir, "assets", "js", "app.js"), "console.log(2)")
	v2 := waitVersion(t, base, v1)
	assert.True(t, semver.MustParse(v2).GreaterThan(semver.MustParse(v1)), "%s > %s", v2, v1)

	writeFile(t, filepath.Join(dir, "assets", "js", "app.js"), "console.log(3)")
	v3 := waitVersion(t, base, v2)
	assert.True(t, semver.MustParse(v3).GreaterThan(semver.MustParse(v2)), "%s > %s", v3, v2)
	assert.NotContains(t, stdout.String(), "foo.swp")
}

func TestWatch_Ignored(t *testing.T) {
	for name, want := range map[string]bool{
		"foo.swp": true, "a/.b.swx": true, "x~": true, ".#x": true, "4913": true, "a.tmp": true,
		".DS_Store": true, ".git/HEAD": true, "a/.git": true, "app.js___jb_tmp___": true,
		"index.html": false, "assets/app.js": false, "swp": false, "a/4913.js": false, "git/x": false,
	} {
		assert.Equal(t, want, ignored(name), "ignored(%q)", name)
	}
}

func TestWatch_Version(t *testing.T) {
	w := &watcher{base: watchBase("1.2.3-beta.1")}
	now := time.Date(2025, 3, 4, 5, 6, 7, 0, time.UTC)
	a := w.nextVersion(now)
	b := w.nextVersion(now)
	c := w.nextVersion(now.Add(-time.Hour)) // the clock went back
	assert.Equal(t, "1.2.3-dev.20250304050607.1", a)
	assert.True(t, semver.MustParse(b).GreaterThan(semver.MustParse(a)))
	assert.True(t, semver.MustParse(c).GreaterThan(semver.MustParse(b)))
	assert.Equal(t, "0.0.0", watchBase(""))
}
