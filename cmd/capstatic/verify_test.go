package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/resolver"
)

const vfyApp = "com.example.verifycli"

// vfyTree publishes versions of vfyApp to a new folder tree, in order.
func vfyTree(t *testing.T, versions ...string) string {
	t.Helper()
	tree := t.TempDir()
	for _, v := range versions {
		cliMust(t, "publish", writeBuild(t, v), "--store", tree, "--app", vfyApp, "--version", v, "--quiet")
	}
	return tree
}

// vfyLive returns the live bundle of channel production.
func vfyLive(t *testing.T, tree string) *manifest.Bundle {
	t.Helper()
	st := stateOf(t, tree, vfyApp)
	return st.Bundles[st.Channels["production"].Target]
}

func vfyPointer(t *testing.T, tree string) *manifest.Pointer {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(tree, filepath.FromSlash(manifest.PointerPath(vfyApp))))
	require.NoError(t, err)
	p, err := manifest.DecodePointer(raw)
	require.NoError(t, err)
	return p
}

// TestVerify_CLI damages a tree in the ways a broken host or a bad copy
// would, and checks that "capstatic verify --json" exits 1 and reports
// each damage as a problem object naming the damaged object.
func TestVerify_CLI(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(t *testing.T, tree string) string // returns the key to be reported
	}{
		{"ZipByte", func(t *testing.T, tree string) string {
			key := vfyLive(t, tree).Zip.Path
			p := filepath.Join(tree, filepath.FromSlash(key))
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			b[len(b)/3] ^= 0x20
			require.NoError(t, os.WriteFile(p, b, 0o644))
			return key
		}},
		{"MissingDelta", func(t *testing.T, tree string) string {
			key := vfyLive(t, tree).Files[0].Object.Path
			require.NoError(t, os.Remove(filepath.Join(tree, filepath.FromSlash(key))))
			return key
		}},
		{"TruncatedState", func(t *testing.T, tree string) string {
			key := manifest.StatePath(vfyApp, vfyPointer(t, tree).State)
			p := filepath.Join(tree, filepath.FromSlash(key))
			st, err := os.Stat(p)
			require.NoError(t, err)
			require.NoError(t, os.Truncate(p, st.Size()/2))
			return key
		}},
		{"PointerToMissingState", func(t *testing.T, tree string) string {
			key := manifest.StatePath(vfyApp, vfyPointer(t, tree).State)
			require.NoError(t, os.Remove(filepath.Join(tree, filepath.FromSlash(key))))
			return key
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tree := vfyTree(t, "1.0.0", "1.0.1")
			cliMust(t, "verify", "--store", tree)
			key := tc.damage(t, tree)
			code, out, errs := cliRun(t, "", "verify", "--store", tree, "--json")
			assert.Equal(t, exitFailure, code, "exit status; stderr: %s", errs)
			var problems []map[string]any
			var summary map[string]any
			dec := json.NewDecoder(strings.NewReader(out))
			for dec.More() {
				var m map[string]any
				require.NoError(t, dec.Decode(&m), "output: %s", out)
				switch m["type"] {
				case "problem":
					problems = append(problems, m)
				case "verify":
					summary = m
				}
			}
			require.Len(t, problems, 1, "problems: %s", out)
			assert.Equal(t, key, problems[0]["key"])
			assert.Equal(t, vfyApp, problems[0]["app"])
			require.NotNil(t, summary, "summary object: %s", out)
			assert.Equal(t, false, summary["ok"])
			assert.Contains(t, errs, "1 problem")
		})
	}
}

// TestGC_CLI checks "capstatic gc" on a folder whose older releases are two
// days old: --dry-run lists the objects and deletes nothing; gc deletes
// them; the live bundle's objects, the pointer, the index and everything
// younger than the grace period (a release just published without a
// channel, as a publish in flight leaves it) stay; the resolver still
// answers and its download URLs work; the tree verifies.
func TestGC_CLI(t *testing.T) {
	tree := vfyTree(t, "1.0.0", "1.0.1", "1.0.2")
	old := time.Now().Add(-48 * time.Hour)
	require.NoError(t, filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		return os.Chtimes(p, old, old)
	}))
	// A bundle published a moment ago, not yet on a channel.
	cliMust(t, "publish", writeBuild(t, "1.0.3"), "--store", tree, "--app", vfyApp, "--version", "1.0.3", "--channel", "", "--quiet")
	young := treeFiles(t, tree)
	live := vfyLive(t, tree)
	before := treeFiles(t, tree)

	out := cliMust(t, "gc", "--store", tree, "--keep", "1", "--dry-run")
	assert.Equal(t, before, treeFiles(t, tree), "files after a dry run")
	assert.Contains(t, out, "would delete "+vfyApp+"/bundles/")
	dry := strings.Count("\n"+out, "\nwould delete ")
	assert.Positive(t, dry)

	out = cliMust(t, "gc", "--store", tree, "--keep", "1", "--json")
	deleted := strings.Count(out, `"type":"gc_delete"`)
	assert.Equal(t, dry, deleted, "objects deleted, as listed by the dry run")
	after := treeFiles(t, tree)
	assert.Len(t, after, len(before)-deleted+2, "files after gc (2 tombstones added)")
	for _, key := range append([]string{manifest.IndexPath, manifest.PointerPath(vfyApp), live.Zip.Path,
		manifest.BundleRecordPath(vfyApp, live.ID)}, objectsOf(live)...) {
		assert.Contains(t, after, key, "live object after gc")
	}
	for key, mtime := range young {
		if mtime.After(old) {
			assert.Contains(t, after, key, "young object after gc")
		}
	}
	cliMust(t, "verify", "--store", tree)
	vfyDownload(t, tree, "1.0.2")
}

// treeFiles returns the tree's keys (not dot files) and their mtimes.
func treeFiles(t *testing.T, tree string) map[string]time.Time {
	t.Helper()
	files := map[string]time.Time{}
	require.NoError(t, filepath.WalkDir(tree, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasPrefix(d.Name(), ".") {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tree, p)
		files[filepath.ToSlash(rel)] = info.ModTime()
		return nil
	}))
	return files
}

func objectsOf(b *manifest.Bundle) []string {
	var keys []string
	for _, f := range b.Files {
		keys = append(keys, f.Object.Path)
	}
	return keys
}

// vfyDownload asks a resolver over the tree (resolver.NewServer behind
// httptest) for an update as a device on the builtin bundle, expects
// version, and downloads the zip it names, checking its SHA-256.
func vfyDownload(t *testing.T, tree, version string) {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	src := resolver.FS(os.DirFS(tree))
	cat := resolver.NewCatalog(src, resolver.URLs{Files: base + "/files", Builtin: base + "/builtin"}, nil)
	srv.Config.Handler = resolver.NewServer(resolver.Config{Catalog: cat, Files: src})
	srv.Start()
	t.Cleanup(srv.Close)

	body, err := json.Marshal(map[string]any{"app_id": vfyApp, "device_id": "00000000-0000-4000-8000-000000000002",
		"version_name": "builtin", "version_build": "1.0.0", "plugin_version": "8.51.23", "platform": "android",
		"is_emulator": false, "is_prod": true, "defaultChannel": ""})
	require.NoError(t, err)
	resp, err := http.Post(base+"/updates", "application/json", bytes.NewReader(body))
	require.NoError(t, err)
	defer resp.Body.Close()
	var ans struct{ Version, URL, Checksum string }
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&ans))
	require.Equal(t, version, ans.Version, "answer version")
	zr, err := http.Get(ans.URL)
	require.NoError(t, err)
	defer zr.Body.Close()
	require.Equal(t, http.StatusOK, zr.StatusCode, "GET %s", ans.URL)
	zip, err := io.ReadAll(zr.Body)
	require.NoError(t, err)
	sum := sha256.Sum256(zip)
	assert.Equal(t, ans.Checksum, hex.EncodeToString(sum[:]), "checksum of the downloaded zip")
}

// TestPublish_Pages checks that a pages: store gets the .nojekyll marker and
// that publish, verify and gc ignore it.
func TestPublish_Pages(t *testing.T) {
	site := filepath.Join(t.TempDir(), "site")
	cliMust(t, "publish", writeBuild(t, "1.0.0"), "--store", "pages:"+site, "--app", vfyApp, "--version", "1.0.0", "--quiet")
	_, err := os.Stat(filepath.Join(site, ".nojekyll"))
	require.NoError(t, err, "the .nojekyll marker")
	cliMust(t, "verify", "--store", site)
	cliMust(t, "gc", "--store", site, "--grace", "0s", "--keep", "0")
	_, err = os.Stat(filepath.Join(site, ".nojekyll"))
	assert.NoError(t, err, "the marker after gc")

	other := t.TempDir()
	cliMust(t, "publish", writeBuild(t, "1.0.0"), "--store", other, "--pages", "--app", vfyApp, "--version", "1.0.0", "--quiet")
	_, err = os.Stat(filepath.Join(other, ".nojekyll"))
	assert.NoError(t, err, "the marker with --pages")
	code, _, errs := cliRun(t, "", "publish", writeBuild(t, "1.0.1"), "--store", "s3://bucket/x", "--pages",
		"--app", vfyApp, "--version", "1.0.1")
	assert.Equal(t, exitUsage, code, "--pages with an S3 store: %s", errs)
}
