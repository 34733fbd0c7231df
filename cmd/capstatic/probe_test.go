package main

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// writeBuild writes a minimal web build whose index.html mentions the
// marker, so versions differ in content.
func writeBuild(t *testing.T, marker string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"index.html":    "<!doctype html><script src=assets/app.js></script><p>" + marker + "</p>",
		"assets/app.js": "window.CapacitorUpdater && CapacitorUpdater.notifyAppReady(); // " + marker,
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

// probeProject makes a Capacitor project folder that `capgo probe` accepts:
// capacitor.config.json pointing at updateURL, a native Android version,
// and an installed updater plugin of version plugin.
func probeProject(t *testing.T, app, updateURL, native, plugin string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"capacitor.config.json": `{"appId":"` + app + `","appName":"probe","webDir":"www","plugins":{"CapacitorUpdater":{"updateUrl":"` + updateURL + `"}}}`,
		"package.json":          `{"name":"probe","version":"1.0.0","dependencies":{"@capgo/capacitor-updater":"` + plugin + `"}}`,
		"node_modules/@capgo/capacitor-updater/package.json": `{"name":"@capgo/capacitor-updater","version":"` + plugin + `"}`,
		"www/index.html":           "<p>notifyAppReady</p>",
		"android/app/build.gradle": "android {\n  defaultConfig {\n    versionCode 1\n    versionName \"" + native + "\"\n  }\n}\n",
	}
	for name, body := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

// TestCapgoProbe drives the real `capgo probe` against the resolver: with
// the native version's own bundle published it reports no new version; after
// a newer publish it reports the update (capgo-protocol.md §9).
func TestCapgoProbe(t *testing.T) {
	cli := capgoCLI(t)
	const app = "com.example.probe"
	tree := t.TempDir()
	cliMust(t, "publish", writeBuild(t, "v1.0.0"), "--store", tree, "--app", app, "--version", "1.0.0", "--quiet")
	base := cliServe(t, "--store", tree, "--ttl", "10ms")
	project := probeProject(t, app, base+"/updates", "1.0.0", "8.51.23")

	out, err := capgoRun(t, cli, project, "probe", "--platform", "android")
	require.NoError(t, err, "capgo probe: %s", out)
	assert.Contains(t, out, "No new version available")

	cliMust(t, "publish", writeBuild(t, "v1.0.1"), "--store", tree, "--app", app, "--version", "1.0.1", "--quiet")
	time.Sleep(50 * time.Millisecond)
	out, err = capgoRun(t, cli, project, "probe", "--platform", "android")
	require.NoError(t, err, "capgo probe: %s", out)
	assert.Contains(t, out, "Update available: 1.0.1")
}
