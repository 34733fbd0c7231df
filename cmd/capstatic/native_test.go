package main

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const natApp = "com.example.natives"

// nativeProject writes a Capacitor project whose native side is the
// @capacitor/android version given, and returns its folder.
func nativeProject(t *testing.T, capacitorAndroid string) string {
	t.Helper()
	dir := t.TempDir()
	files := map[string]string{
		"package.json": `{"name":"app","version":"1.0.0","dependencies":{"@capacitor/core":"6.0.0","@capacitor/android":"` +
			capacitorAndroid + `"}}`,
		"android/app/build.gradle": "android {}\n",
		"www/index.html":           "<p>web</p>",
	}
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

// natPublish publishes a build of version from project dir (whose
// fingerprint the bundle records) and returns the exit code and stderr.
func natPublish(t *testing.T, tree, project, version string, extra ...string) (int, string) {
	t.Helper()
	args := append([]string{"publish", writeBuild(t, version), "--store", tree, "--app", natApp,
		"--version", version, "--quiet"}, extra...)
	code, _, errs := cliRun(t, project, args...)
	return code, errs
}

// natCheck asks the server for an update as a Gen N android device on
// native version native, running its builtin bundle, and returns the
// answer.
func natCheck(t *testing.T, base, native string) map[string]any {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"app_id": natApp, "device_id": "6f1c2d3e-0000-4000-8000-0000000000aa",
		"version_name": "builtin", "version_build": native, "version_code": "1", "version_os": "14",
		"plugin_version": "8.51.23", "platform": "android", "is_emulator": false, "is_prod": true, "custom_id": ""})
	resp, err := http.Post(base+"/updates", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]any
	require.NoError(t, json.Unmarshal(raw, &m), "answer %s", raw)
	return m
}

// TestNative_PublishRefused: with a native build registered, a bundle from
// a project with other native code is refused with one clear line, and
// accepted with --force.
func TestNative_PublishRefused(t *testing.T) {
	tree := t.TempDir()
	one, two := nativeProject(t, "6.0.0"), nativeProject(t, "7.0.0")
	code, _, errs := cliRun(t, one, "native", "add", "--store", tree, "--app", natApp, "--platform", "android", "--version", "1.0")
	require.Equal(t, exitOK, code, errs)

	code, errs = natPublish(t, tree, two, "1.0.1")
	assert.Equal(t, exitFailure, code, "exit status of a refused publish")
	assert.Equal(t, 1, strings.Count(errs, "\n"), "one line on stderr: %q", errs)
	for _, want := range []string{"capstatic publish: bundle 1.0.1 has fingerprint", "android 1.0.0 (", "capstatic native add", "--force", "--native-range"} {
		assert.Contains(t, errs, want)
	}

	code, errs = natPublish(t, tree, two, "1.0.1", "--force")
	assert.Equal(t, exitOK, code, "forced: %s", errs)
	code, errs = natPublish(t, tree, two, "1.0.2", "--native-range", ">=1.0.0 <2.0.0")
	assert.Equal(t, exitOK, code, "matching native range: %s", errs)
	code, errs = natPublish(t, tree, one, "1.0.3")
	assert.Equal(t, exitOK, code, "same native code: %s", errs)
}

// TestNative_Devices: two native builds with different native code on one
// channel; after interleaved publishes each device gets the newest bundle
// compatible with its build, over HTTP, and rollbacks and the unknown
// native policy are respected.
func TestNative_Devices(t *testing.T) {
	tree := t.TempDir()
	one, two := nativeProject(t, "6.0.0"), nativeProject(t, "7.0.0")
	store := []string{"--store", tree, "--app", natApp}
	fpTwo := strings.TrimSpace(func() string {
		code, out, errs := cliRun(t, two, "native", "fingerprint")
		require.Equal(t, exitOK, code, errs)
		return out
	}())
	code, _, errs := cliRun(t, one, append([]string{"native", "add", "--platform", "android", "--version", "1.0.0"}, store...)...)
	require.Equal(t, exitOK, code, errs)
	cliMust(t, append([]string{"native", "add", "--platform", "android", "--version", "2.0.0", "--fingerprint", fpTwo}, store...)...)

	for i, p := range []struct{ project, version string }{{one, "1.0.1"}, {two, "2.0.1"}, {one, "1.0.2"}, {two, "2.0.2"}} {
		code, errs := natPublish(t, tree, p.project, p.version)
		require.Equal(t, exitOK, code, "publish %s: %s", p.version, errs)
		if i == 0 { // no version policy in the way of unregistered natives
			cliMust(t, append([]string{"channel", "set", "production", "--disable-auto-update", "none", "--disable-under-native=false"}, store...)...)
		}
	}
	base := cliServe(t, "--store", tree, "--ttl", "0s")
	assert.Equal(t, "1.0.2", natCheck(t, base, "1.0.0")["version"], "native 1.0.0")
	assert.Equal(t, "2.0.2", natCheck(t, base, "2.0.0")["version"], "native 2.0.0")
	assert.Equal(t, "2.0.2", natCheck(t, base, "2.5.0")["version"], "unregistered native: Capgo's semantics")

	list := cliMust(t, append([]string{"native", "list"}, store...)...)
	assert.Regexp(t, `android\s+1\.0\.0\s+[0-9a-f]{12}\s+1\.0\.2`, list)
	assert.Regexp(t, `android\s+2\.0\.0\s+[0-9a-f]{12}\s+2\.0\.2`, list)

	cliMust(t, append([]string{"rollback", "production", "--to", "2.0.1"}, store...)...)
	assert.Equal(t, "1.0.1", natCheck(t, base, "1.0.0")["version"], "rolled-back 1.0.2 is skipped")
	assert.Equal(t, "2.0.1", natCheck(t, base, "2.0.0")["version"], "native 2.0.0 after the rollback")

	code, errs = natPublish(t, tree, one, "1.0.3")
	require.Equal(t, exitOK, code, errs)
	assert.Equal(t, "1.0.3", natCheck(t, base, "1.0.0")["version"])
	assert.Equal(t, "2.0.1", natCheck(t, base, "2.0.0")["version"], "2.0.2 stays rolled back")

	cliMust(t, append([]string{"native", "add", "--platform", "android", "--version", "3.0.0", "--fingerprint", strings.Repeat("0", 64)}, store...)...)
	assert.Equal(t, "no_new_version_available", natCheck(t, base, "3.0.0")["error"], "nothing compatible with 3.0.0")

	cliMust(t, append([]string{"channel", "set", "production", "--unknown-native", "refuse"}, store...)...)
	assert.Equal(t, "no_new_version_available", natCheck(t, base, "2.5.0")["error"], "unregistered native refused")
	assert.Equal(t, "1.0.3", natCheck(t, base, "1.0.0")["version"], "registered native unaffected")

	out := cliMust(t, "explain", "--store", tree, "--app", natApp, "--native", "2.0.0")
	assert.Contains(t, out, "native gating: registered build android 2.0.0 matched; newest compatible bundle of the channel's history: 2.0.1")
	out = cliMust(t, "explain", "--store", tree, "--app", natApp, "--native", "2.5.0")
	assert.Contains(t, out, "rule: native.unregistered")
}
