package main

// Tests of the delta report printed by "capstatic publish", and of what the
// resolver sends about delta files: the per-channel zip-only switch and the
// manifest size probe (capgo-protocol.md §2.3).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
)

const rptApp = "com.example.report"

// rptText returns n bytes of seeded text that brotli cannot shrink much.
func rptText(seed uint64, n int) string {
	r := rand.New(rand.NewPCG(seed, 11))
	const alphabet = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+/"
	b := make([]byte, n)
	for i := range b {
		b[i] = alphabet[r.IntN(len(alphabet))]
	}
	return string(b)
}

// rptWrite writes files (name → content) to a new folder.
func rptWrite(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, body := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(body), 0o644))
	}
	return dir
}

// rptThree is a build of three files whose contents derive from the seeds.
func rptThree(index, app, vendor uint64) map[string]string {
	return map[string]string{
		"index.html":       "<!doctype html><script src=assets/app.js></script>" + rptText(index, 200),
		"assets/app.js":    rptText(app, 3000),
		"assets/vendor.js": rptText(vendor, 12000),
	}
}

// rptPublish publishes files as version with --json and returns the
// decoded output lines and the stored bundle record.
func rptPublish(t *testing.T, tree, version string, files map[string]string) ([]map[string]any, *manifest.Bundle) {
	t.Helper()
	out := cliMust(t, "publish", rptWrite(t, files), "--store", tree, "--app", rptApp, "--version", version,
		"--channel", "production", "--json")
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "publish --json line %q", sc.Text())
		lines = append(lines, m)
	}
	require.NotEmpty(t, lines)
	require.Equal(t, "publish", lines[0]["type"], "first line of %s", out)
	return lines, rptRecord(t, tree, lines[0]["bundle"].(string))
}

func rptRecord(t *testing.T, tree, id string) *manifest.Bundle {
	t.Helper()
	d, err := manifest.ParseDigest(id)
	require.NoError(t, err)
	raw, err := os.ReadFile(filepath.Join(tree, filepath.FromSlash(manifest.BundleRecordPath(rptApp, d))))
	require.NoError(t, err)
	b, err := manifest.DecodeBundle(rptApp, raw)
	require.NoError(t, err)
	return b
}

// rptRows returns the "delta" lines by their "from" field.
func rptRows(t *testing.T, lines []map[string]any) map[string]map[string]any {
	t.Helper()
	rows := map[string]map[string]any{}
	for _, m := range lines[1:] {
		if m["type"] == "delta" {
			rows[m["from"].(string)] = m
		}
	}
	return rows
}

// rptObjects returns the bytes of the objects of the named files of b, or
// of all its files when no name is given.
func rptObjects(b *manifest.Bundle, names ...string) int64 {
	var n int64
	for _, f := range b.Files {
		if len(names) == 0 || slices.Contains(names, f.Name) {
			n += f.Object.Size
		}
	}
	return n
}

func TestPublish_DeltaReport(t *testing.T) {
	t.Parallel()
	tree := t.TempDir()
	lines, b1 := rptPublish(t, tree, "1.0.0", rptThree(1, 2, 3))
	rows := rptRows(t, lines)
	assert.Equal(t, []string{""}, slices.Collect(maps.Keys(rows)), "first publish: only a device holding nothing")
	assert.EqualValues(t, rptObjects(b1), rows[""]["download_bytes"], "nothing cached")

	// One file of three changed: a device on 1.0.0 downloads that object.
	lines, b2 := rptPublish(t, tree, "1.0.1", rptThree(1, 20, 3))
	rows = rptRows(t, lines)
	changed := rptObjects(b2, "assets/app.js")
	require.Contains(t, rows, "1.0.0")
	assert.EqualValues(t, changed, rows["1.0.0"]["download_bytes"], "from 1.0.0")
	assert.EqualValues(t, 1, rows["1.0.0"]["download_files"], "from 1.0.0")
	assert.EqualValues(t, 2, rows["1.0.0"]["reused_files"], "from 1.0.0")
	assert.EqualValues(t, b2.Size, rows["1.0.0"]["zip_bytes"])
	assert.Equal(t, "version", rows["1.0.0"]["kind"])
	assert.Equal(t, "builtin", rows["builtin"]["kind"])
	assert.Equal(t, "1.0.0", rows["builtin"]["like"], "builtin stands for the channel's first bundle")
	assert.Less(t, changed*4, b2.Size, "one small object against the zip")
	for _, m := range lines {
		assert.NotEqual(t, "warning", m["type"], "no cascade for one changed file: %v", m)
	}

	// Nothing in common: a device on 1.0.1 downloads every object.
	lines, b3 := rptPublish(t, tree, "2.0.0", rptThree(7, 8, 9))
	rows = rptRows(t, lines)
	assert.EqualValues(t, rptObjects(b3), rows["1.0.1"]["download_bytes"], "from 1.0.1")
	assert.EqualValues(t, 3, rows["1.0.1"]["download_files"], "from 1.0.1")
	assert.EqualValues(t, rptObjects(b3), rows["1.0.0"]["download_bytes"], "from 1.0.0")
	assert.LessOrEqual(t, rptObjects(b3), b3.Size, "all objects against the zip")

	// The human table: a row per version, newest first, then builtin and
	// nothing cached.
	out := cliMust(t, "publish", rptWrite(t, rptThree(7, 21, 9)), "--store", tree, "--app", rptApp,
		"--version", "2.0.1", "--channel", "production")
	b4 := rptVersion(t, tree, "2.0.1")
	assert.Contains(t, out, fmt.Sprintf("delta downloads of 2.0.1 (3 files; the zip is %d bytes):", b4.Size))
	want := []string{
		fmt.Sprintf(`2\.0\.0 +1/3 +%d +\d+\.\d%%`, rptObjects(b4, "assets/app.js")),
		fmt.Sprintf(`1\.0\.1 +3/3 +%d `, rptObjects(b4)),
		fmt.Sprintf(`1\.0\.0 +3/3 +%d `, rptObjects(b4)),
		fmt.Sprintf(`builtin ≈ 1\.0\.0 +3/3 +%d `, rptObjects(b4)),
		fmt.Sprintf(`nothing cached +3/3 +%d `, rptObjects(b4)),
	}
	assert.Regexp(t, "(?s)FROM +FILES +BYTES +OF ZIP.*"+strings.Join(want, ".*"), out)
	assert.NotContains(t, out, "warning")
}

// rptVersion returns the stored record of version.
func rptVersion(t *testing.T, tree, version string) *manifest.Bundle {
	t.Helper()
	store, err := publish.NewDir(tree)
	require.NoError(t, err)
	head, err := publish.Load(context.Background(), store, rptApp)
	require.NoError(t, err)
	id, ok := head.State.Versions[version]
	require.True(t, ok, "version %s in the state", version)
	return rptRecord(t, tree, id.String())
}

// rptChunks is a build whose six chunks carry the content hash hash, and
// whose content differs between hashes by one byte: what a bundler makes
// when a module every chunk imports is renamed.
func rptChunks(hash string, tweak byte) map[string]string {
	files := map[string]string{"index.html": "<!doctype html><script type=module src=assets/chunk0-" + hash + ".js></script>"}
	for i := range 6 {
		body := []byte(rptText(uint64(40+i), 4000))
		body[0] = tweak
		files[fmt.Sprintf("assets/chunk%d-%s.js", i, hash)] = string(body)
	}
	return files
}

func TestPublish_DeltaReportCascade(t *testing.T) {
	t.Parallel()
	tree := t.TempDir()
	rptPublish(t, tree, "1.0.0", rptChunks("Ab12Cd34", 'a'))
	lines, _ := rptPublish(t, tree, "1.0.1", rptChunks("Ef56Gh78", 'b'))
	var warning map[string]any
	for _, m := range lines {
		if m["type"] == "warning" {
			warning = m
		}
	}
	require.NotNil(t, warning, "a cascade warning in %v", lines)
	assert.Equal(t, "hash_cascade", warning["warning"])
	assert.Equal(t, "1.0.0", warning["from"])
	assert.Contains(t, warning["hint"], "stable chunk names")

	out := cliMust(t, "publish", rptWrite(t, rptChunks("Ij90Kl12", 'c')), "--store", tree, "--app", rptApp,
		"--version", "1.0.2", "--channel", "production")
	assert.Contains(t, out, "warning: hash cascade since 1.0.1: many renamed chunks with tiny content changes inflate the download")
	assert.Contains(t, out, "webpack optimization.moduleIds: 'deterministic'")
	assert.Contains(t, out, "6 files were renamed")

	// One changed chunk is an ordinary update.
	one := rptChunks("Ij90Kl12", 'c')
	one["assets/chunk3-Ij90Kl12.js"] = rptText(99, 4000)
	out = cliMust(t, "publish", rptWrite(t, one), "--store", tree, "--app", rptApp,
		"--version", "1.0.3", "--channel", "production")
	assert.NotContains(t, out, "hash cascade")
}

// rptInfo is the /updates body of a Gen N Android device (plugin 8.51.23)
// running its builtin bundle (capgo-protocol.md §1.1).
func rptInfo() map[string]any {
	return map[string]any{
		"platform": "android", "device_id": "6f1c2a4e-3b5d-4c7e-8f90-a1b2c3d4e5f6", "app_id": rptApp,
		"custom_id": "", "version_build": "1.0.0", "version_code": "1", "version_os": "14",
		"version_name": "builtin", "plugin_version": "8.51.23", "is_emulator": false, "is_prod": true,
		"defaultChannel": "", "install_source": "google_play",
	}
}

// rptPost posts body as JSON the way the Gen N Android plugin does and
// returns the status and decoded answer.
func rptPost(t *testing.T, url string, body any) (int, map[string]json.RawMessage) {
	t.Helper()
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "CapacitorUpdater/8.51.23 ("+rptApp+") android/14")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	got, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(got, &m), "answer %s", got)
	return resp.StatusCode, m
}

type rptEntry struct {
	FileName    string `json:"file_name"`
	FileHash    string `json:"file_hash"`
	DownloadURL string `json:"download_url"`
}

func TestServe_ZipOnlyAndManifestSize(t *testing.T) {
	t.Parallel()
	tree := t.TempDir()
	_, b := rptPublish(t, tree, "1.0.1", rptThree(1, 2, 3))
	base := cliServe(t, "--store", tree, "--ttl", "0s")

	// Default: a Gen N device gets the manifest.
	status, a := rptPost(t, base+"/updates", rptInfo())
	require.Equal(t, http.StatusOK, status, "answer %v", a)
	require.Contains(t, a, "manifest", "default channel settings")
	assert.JSONEq(t, `"1.0.1"`, string(a["version"]))
	var entries []rptEntry
	require.NoError(t, json.Unmarshal(a["manifest"], &entries))
	require.Len(t, entries, 3)

	// The size probe: the device asks about the entries it lacks.
	probe := rptInfo()
	probe["version"] = "1.0.1"
	probe["manifest"] = append(entries[:2:2], rptEntry{FileName: "missing.js", FileHash: strings.Repeat("0", 64),
		DownloadURL: base + "/files/missing.js"})
	status, sizes := rptPost(t, base+"/updates/manifest_size", probe)
	require.Equal(t, http.StatusOK, status, "manifest_size %v", sizes)
	var got struct {
		TotalSize    int64 `json:"totalSize"`
		KnownFiles   int   `json:"knownFiles"`
		UnknownFiles int   `json:"unknownFiles"`
		Files        []struct {
			rptEntry
			Size  *int64 `json:"size"`
			Error string `json:"error"`
		} `json:"files"`
	}
	raw, err := json.Marshal(sizes)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &got))
	byWire := map[string]int64{}
	for _, f := range b.Files {
		st, err := os.Stat(filepath.Join(tree, filepath.FromSlash(f.Object.Path)))
		require.NoError(t, err)
		require.Equal(t, f.Object.Size, st.Size(), "stored object of %s", f.Name)
		byWire[f.WireName()] = st.Size()
	}
	require.Len(t, got.Files, 3)
	var total int64
	for i, f := range got.Files[:2] {
		assert.Equal(t, entries[i], f.rptEntry, "entry %d is echoed", i)
		require.NotNil(t, f.Size, "size of %s", f.FileName)
		assert.Equal(t, byWire[f.FileName], *f.Size, "size of %s", f.FileName)
		total += *f.Size
	}
	assert.Equal(t, "missing.js", got.Files[2].FileName)
	assert.Equal(t, "size_unknown", got.Files[2].Error)
	assert.Nil(t, got.Files[2].Size)
	assert.Equal(t, total, got.TotalSize)
	assert.Equal(t, 2, got.KnownFiles)
	assert.Equal(t, 1, got.UnknownFiles)

	// Zip-only: the same device gets the zip and no manifest.
	cliMust(t, "channel", "set", "production", "--zip-only", "--store", tree, "--app", rptApp)
	status, a = rptPost(t, base+"/updates", rptInfo())
	require.Equal(t, http.StatusOK, status, "answer %v", a)
	assert.NotContains(t, a, "manifest", "zip-only channel")
	assert.JSONEq(t, `"1.0.1"`, string(a["version"]))
	assert.Contains(t, a, "url")
	assert.Regexp(t, regexp.MustCompile(`^"[0-9a-f]{64}"$`), string(a["checksum"]), "SHA-256 for Gen N")

	// And back.
	cliMust(t, "channel", "set", "production", "--zip-only=false", "--store", tree, "--app", rptApp)
	_, a = rptPost(t, base+"/updates", rptInfo())
	assert.Contains(t, a, "manifest", "zip-only switched off")
}
