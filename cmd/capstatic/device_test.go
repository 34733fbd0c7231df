package main

// End-to-end tests of the command with a simulator of
// @capgo/capacitor-updater devices: bundles are published with
// Run("publish"), served with Run("serve") (or resolver.NewServer behind
// httptest), and simulated phones of each plugin generation check, download,
// verify and unpack them the way their plugin does (capgo-protocol.md §1.1,
// §1.3, §2.2, §3, §7, §8; answer-features.md decides what each one gets).

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/resolver"
)

// simGen is a plugin generation (capgo-protocol.md §0).
type simGen string

const (
	genL simGen = "L" // 10.0.0 and the other 5.0.1 re-publishes
	genM simGen = "M" // 6.14.26, 7.36.1
	genN simGen = "N" // 8.51.23
)

// simProfile is one plugin build the simulator plays.
type simProfile struct {
	gen      simGen
	platform string
	plugin   string
	osVer    string
	upperID  bool // L-iOS sends identifierForVendor, upper-case
	sha256   bool // the zip checksum is SHA-256 (else CRC32), §3
	manifest bool // a manifest in the answer is downloaded file by file, §2.3
}

func simProfileOf(name string) simProfile {
	switch name {
	case "L-android":
		return simProfile{gen: genL, platform: "android", plugin: "10.0.0", osVer: "14"}
	case "L-ios":
		return simProfile{gen: genL, platform: "ios", plugin: "10.0.0", osVer: "17.4", upperID: true}
	case "M-6.14.26":
		return simProfile{gen: genM, platform: "android", plugin: "6.14.26", osVer: "13"}
	case "M-7.36.1":
		return simProfile{gen: genM, platform: "android", plugin: "7.36.1", osVer: "13", sha256: true, manifest: true}
	case "N-android":
		return simProfile{gen: genN, platform: "android", plugin: "8.51.23", osVer: "14", sha256: true, manifest: true}
	case "N-ios":
		return simProfile{gen: genN, platform: "ios", plugin: "8.51.23", osVer: "17.4", sha256: true, manifest: true}
	}
	panic("unknown simulator profile " + name)
}

// simDevice is one simulated phone with the plugin installed. It is not
// safe for concurrent use.
type simDevice struct {
	simProfile
	appID, deviceID, updateURL string
	versionBuild               string // native version
	defaultChannel             string // sent by M and N, even when ""
	keyID                      string // sent by N when not ""
	client                     *http.Client

	versionName string            // running bundle; "builtin" at first
	builtin     map[string][]byte // web files inside the app binary
	files       map[string][]byte // files of the running bundle
	cache       map[string][]byte // delta cache by SHA-256 hex

	downloaded int64             // body bytes of every file download
	fetched    []string          // URLs opened for download, in order
	brObjects  map[string][]byte // raw .br objects downloaded, by file_name
}

// newSimDevice returns a fresh install of profile whose binary carries
// builtin; its device id is derived from the test name.
func newSimDevice(t *testing.T, profile, updateURL string, builtin devBuild) *simDevice {
	p := simProfileOf(profile)
	id := simUUID(t.Name() + "/" + profile)
	if p.upperID {
		id = strings.ToUpper(id)
	}
	files := map[string][]byte{}
	for k, v := range builtin {
		files[k] = []byte(v)
	}
	return &simDevice{simProfile: p, appID: devApp, deviceID: id, updateURL: updateURL, versionBuild: "1.0.0",
		client: &http.Client{Timeout: 10 * time.Second}, versionName: "builtin", builtin: files, files: files,
		cache: map[string][]byte{}, brObjects: map[string][]byte{}}
}

// simUUID returns a lower-case, version-4-shaped UUID derived from seed.
func simUUID(seed string) string {
	h := simSHA([]byte(seed))
	return h[0:8] + "-" + h[8:12] + "-4" + h[13:16] + "-8" + h[17:20] + "-" + h[20:32]
}

func simSHA(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// info is the request body of §1.1: L sends exactly the first 11 keys.
func (d *simDevice) info() map[string]any {
	m := map[string]any{
		"platform": d.platform, "device_id": d.deviceID, "app_id": d.appID, "custom_id": "",
		"version_build": d.versionBuild, "version_code": "1", "version_os": d.osVer,
		"version_name": d.versionName, "plugin_version": d.plugin, "is_emulator": false, "is_prod": true,
	}
	if d.gen != genL {
		m["defaultChannel"] = d.defaultChannel
	}
	if d.gen == genN {
		m["install_source"] = map[string]string{"android": "google_play", "ios": "app_store"}[d.platform]
		if d.keyID != "" {
			m["key_id"] = d.keyID
		}
	}
	return m
}

// setHeaders sets what each HTTP stack sends (§1.1).
func (d *simDevice) setHeaders(h http.Header) {
	switch {
	case d.gen == genL && d.platform == "android": // Volley over HttpURLConnection
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("User-Agent", "Dalvik/2.1.0 (Linux; U; Android 14; sdk_gphone64_x86_64 Build/UE1A.230829.036)")
	case d.gen == genL: // Alamofire JSONParameterEncoder
		h.Set("Content-Type", "application/json")
		h.Set("User-Agent", "App/1.0.0 ("+d.appID+"; build:1; iOS 17.4.0) Alamofire/5.8.1")
		h.Set("Accept-Language", "en;q=1.0")
	case d.gen == genM: // OkHttp; Go's transport adds Accept-Encoding: gzip like OkHttp
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("User-Agent", "okhttp/4.12.0")
	case d.platform == "android":
		h.Set("Content-Type", "application/json; charset=utf-8")
		h.Set("User-Agent", fmt.Sprintf("CapacitorUpdater/%s (%s) android/%s", d.plugin, d.appID, d.osVer))
	default:
		h.Set("Content-Type", "application/json")
		h.Set("Accept", "application/json")
		h.Set("User-Agent", fmt.Sprintf("CapacitorUpdater/%s (%s) ios/%s", d.plugin, d.appID, d.osVer))
	}
}

// simAnswer is the answer with the types iOS decodes strictly (§1.3).
type simAnswer struct {
	Version    *string           `json:"version"`
	URL        *string           `json:"url"`
	SessionKey *string           `json:"session_key"`
	Checksum   *string           `json:"checksum"`
	Message    *string           `json:"message"`
	Error      *string           `json:"error"`
	Kind       *string           `json:"kind"`
	Major      *bool             `json:"major"`
	Breaking   *bool             `json:"breaking"`
	Data       map[string]string `json:"data"`
	Manifest   []simEntry        `json:"manifest"`
	Link       *string           `json:"link"`
	Comment    *string           `json:"comment"`
}

// simEntry is a manifest row (§2.1).
type simEntry struct {
	FileName    *string `json:"file_name"`
	FileHash    *string `json:"file_hash"`
	DownloadURL *string `json:"download_url"`
}

// simResult is what one check did.
type simResult struct {
	Status  int
	Raw     []byte
	Keys    map[string]json.RawMessage // top-level keys of the answer
	Updated bool                       // a new bundle is now running
	Via     string                     // "zip", "manifest" or "builtin"
	// Error, Kind and Message describe a refusal as the plugin saw it; Kind
	// is N's normalised kind.
	Error, Kind, Message string
}

func simDeref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// check calls /updates once and acts on the answer as the device's
// generation does. A non-nil error is a failure the plugin would report
// (response_error, checksum_fail, …); res is nil only when no answer came.
func (d *simDevice) check(ctx context.Context) (*simResult, error) {
	body, err := json.Marshal(d.info())
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.updateURL, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	d.setHeaders(req.Header)
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("network_error: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("network_error: %w", err)
	}
	res := &simResult{Status: resp.StatusCode, Raw: raw}
	var a simAnswer
	jsonErr := json.Unmarshal(raw, &a)
	if jsonErr == nil {
		jsonErr = json.Unmarshal(raw, &res.Keys)
	}
	ok := resp.StatusCode/100 == 2
	switch d.gen {
	case genL, genM: // both drop every non-2xx answer
		if !ok {
			return res, fmt.Errorf("response_error: HTTP %d", resp.StatusCode)
		}
		if jsonErr != nil {
			return res, fmt.Errorf("parse_error: %w", jsonErr)
		}
		// L: "message" alone means no update; M: any error, or a message.
		if a.Message != nil || d.gen == genM && simDeref(a.Error) != "" {
			res.Error, res.Message = simDeref(a.Error), simDeref(a.Message)
			return res, nil
		}
	case genN:
		if jsonErr == nil && (a.Error != nil || a.Kind != nil) { // a check result, whatever the status
			res.Error, res.Message, res.Kind = simDeref(a.Error), simDeref(a.Message), simKind(simDeref(a.Kind))
			return res, nil
		}
		if !ok {
			res.Kind = "failed"
			return res, fmt.Errorf("response_error: HTTP %d", resp.StatusCode)
		}
		if jsonErr != nil {
			return res, fmt.Errorf("parse_error: %w", jsonErr)
		}
	}
	return res, d.apply(ctx, &a, res)
}

// simKind normalises a kind as N does: missing or unknown is "failed".
func simKind(k string) string {
	switch k {
	case "up_to_date", "blocked", "failed":
		return k
	}
	return "failed"
}

// apply handles an answer without refusal: revert, nothing to do, or
// download and install.
func (d *simDevice) apply(ctx context.Context, a *simAnswer, res *simResult) error {
	version := simDeref(a.Version)
	if d.gen != genL && version == "builtin" { // L has no special case for it
		d.files, d.versionName, res.Updated, res.Via = d.builtin, "builtin", true, "builtin"
		return nil
	}
	u, err := url.Parse(simDeref(a.URL))
	if a.URL == nil || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid url %q", simDeref(a.URL))
	}
	if version == "" {
		return errors.New("answer has neither message nor version")
	}
	if version == d.versionName { // plain string compare, no semver
		return nil
	}
	// Every simulated device is configured without keys and every bundle
	// here is clear: L would try its default v1 key on any session_key.
	if simDeref(a.SessionKey) != "" {
		return fmt.Errorf("decrypt_fail: session_key %q for a clear bundle", simDeref(a.SessionKey))
	}
	var tree map[string][]byte
	var dirs []string
	if a.Manifest != nil && d.manifest {
		res.Via = "manifest"
		tree, err = d.downloadManifest(ctx, a.Manifest)
	} else {
		res.Via = "zip"
		tree, dirs, err = d.downloadZip(ctx, u.String(), simDeref(a.Checksum))
	}
	if err != nil {
		return err
	}
	if tree, err = simFlatten(d.platform, tree, dirs); err != nil {
		return err
	}
	d.files, d.versionName, res.Updated = tree, version, true
	for _, b := range tree {
		d.cache[simSHA(b)] = b
	}
	return nil
}

// fetch GETs url and counts the body. requireOK is false only for L-iOS,
// whose AF.download does not validate the status (§8).
func (d *simDevice) fetch(ctx context.Context, u string, requireOK bool) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("download_fail: %w", err)
	}
	defer resp.Body.Close()
	if requireOK && resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("download_fail: GET %s: HTTP %d", u, resp.StatusCode)
	}
	b, err := io.ReadAll(resp.Body)
	d.downloaded += int64(len(b))
	d.fetched = append(d.fetched, u)
	if err != nil {
		return nil, fmt.Errorf("download_fail: GET %s: %w", u, err)
	}
	if resp.ContentLength >= 0 && int64(len(b)) != resp.ContentLength {
		return nil, fmt.Errorf("download_fail: GET %s: %d bytes, Content-Length %d", u, len(b), resp.ContentLength)
	}
	return b, nil
}

// downloadZip downloads, verifies and unzips a bundle zip.
func (d *simDevice) downloadZip(ctx context.Context, u, checksum string) (map[string][]byte, []string, error) {
	var data []byte
	var err error
	switch {
	case d.gen == genL && d.platform == "android":
		// getContentLength() on one connection, openStream() on another.
		req, rerr := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
		if rerr != nil {
			return nil, nil, rerr
		}
		resp, rerr := d.client.Do(req)
		if rerr != nil {
			return nil, nil, fmt.Errorf("download_fail: %w", rerr)
		}
		n := resp.ContentLength
		resp.Body.Close()
		d.fetched = append(d.fetched, u) // opened, body not read
		if resp.StatusCode/100 != 2 {
			return nil, nil, fmt.Errorf("download_fail: HTTP %d", resp.StatusCode)
		}
		if data, err = d.fetch(ctx, u, true); err == nil && n >= 0 && int64(len(data)) != n {
			err = fmt.Errorf("download_fail: second open gave %d bytes, first said %d", len(data), n)
		}
	default:
		data, err = d.fetch(ctx, u, d.gen != genL)
	}
	if err != nil {
		return nil, nil, err
	}
	if err := d.verifyZip(data, checksum); err != nil {
		return nil, nil, err
	}
	return simUnzip(data, d.gen != genL)
}

// verifyZip compares the answer's checksum with the zip (§3). It is
// stricter than L, which accepts an empty checksum: answer-features.md
// promises L the CRC32.
func (d *simDevice) verifyZip(data []byte, checksum string) error {
	got := fmt.Sprintf("%08x", crc32.ChecksumIEEE(data))
	if d.sha256 {
		got = simSHA(data)
		if checksum == "" {
			return errors.New("checksum_required")
		}
	}
	if checksum != got {
		return fmt.Errorf("checksum_fail: answer %q, zip %q", checksum, got)
	}
	return nil
}

// simUnzip extracts a zip in memory. N rejects backslashes, every
// generation rejects escapes (§7). Directory entries are returned apart.
func simUnzip(data []byte, rejectBackslash bool) (map[string][]byte, []string, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil && !errors.Is(err, zip.ErrInsecurePath) {
		return nil, nil, fmt.Errorf("unzip_fail: %w", err)
	}
	files := map[string][]byte{}
	var dirs []string
	for _, f := range zr.File {
		name := f.Name
		switch {
		case rejectBackslash && strings.Contains(name, `\`):
			return nil, nil, fmt.Errorf("windows_path_fail: %q", name)
		case strings.HasPrefix(name, "/") || slices.Contains(strings.Split(name, "/"), ".."):
			return nil, nil, fmt.Errorf("canonical_path_fail: %q", name)
		case strings.HasSuffix(name, "/"):
			dirs = append(dirs, strings.TrimSuffix(name, "/"))
			continue
		}
		rc, err := f.Open()
		if err != nil {
			return nil, nil, fmt.Errorf("unzip_fail: %s: %w", name, err)
		}
		b, err := io.ReadAll(rc) // checks the entry's CRC-32
		rc.Close()
		if err != nil {
			return nil, nil, fmt.Errorf("unzip_fail: %s: %w", name, err)
		}
		files[name] = b
	}
	return files, dirs, nil
}

// simFlatten applies the platform's bundle-root rule (§7) and requires
// index.html at the root. Android ignores __MACOSX and dot entries when it
// decides; iOS does not.
func simFlatten(platform string, files map[string][]byte, dirs []string) (map[string][]byte, error) {
	top := map[string]bool{} // top-level name → is a directory
	for p := range files {
		seg, _, isDir := strings.Cut(p, "/")
		top[seg] = top[seg] || isDir
	}
	for _, p := range dirs {
		seg, _, _ := strings.Cut(p, "/")
		top[seg] = true
	}
	root := ""
	if platform == "android" {
		var kept []string
		for n := range top {
			if !strings.HasPrefix(n, "__MACOSX") && !strings.HasPrefix(n, ".") {
				kept = append(kept, n)
			}
		}
		if len(kept) == 1 && kept[0] != "index.html" {
			root = kept[0]
		}
	} else if len(top) == 1 {
		for n, isDir := range top {
			if isDir {
				root = n
			}
		}
	}
	if root != "" {
		out := map[string][]byte{}
		for p, b := range files {
			if rest, ok := strings.CutPrefix(p, root+"/"); ok {
				out[rest] = b
			}
		}
		files = out
	}
	if _, ok := files["index.html"]; !ok {
		return nil, errors.New("set_fail: no index.html at the bundle root")
	}
	return files, nil
}

// simPathOK is the plugin's resolvePathInsideDirectory (§2.2 step 3).
func simPathOK(name string) bool {
	switch {
	case name == "", strings.ContainsAny(name, "\\\x00"), strings.HasPrefix(name, "/"),
		slices.Contains(strings.Split(name, "/"), ".."):
		return false
	}
	c := path.Clean(name)
	return c != "." && !strings.HasPrefix(c, "../")
}

// downloadManifest assembles a bundle from manifest rows (§2.2): every
// row is checked before anything is downloaded, then each file comes from
// the builtin assets, the delta cache or the network, and is verified.
func (d *simDevice) downloadManifest(ctx context.Context, entries []simEntry) (map[string][]byte, error) {
	targets := map[string]bool{}
	for _, e := range entries {
		if e.FileName == nil || e.DownloadURL == nil || simDeref(e.FileHash) == "" {
			return nil, fmt.Errorf("download_manifest_fail: incomplete row %+v", e)
		}
		target := strings.TrimSuffix(*e.FileName, ".br")
		if !simPathOK(target) || targets[target] {
			return nil, fmt.Errorf("manifest_path_fail: %q", *e.FileName)
		}
		targets[target] = true
		if h := *e.FileHash; len(h) != 64 || strings.Trim(h, "0123456789abcdef") != "" {
			return nil, fmt.Errorf("download_manifest_checksum_fail: %q: file_hash %q is not lower-case hex SHA-256", *e.FileName, h)
		}
	}
	tree := map[string][]byte{}
	for _, e := range entries {
		name, hash := *e.FileName, *e.FileHash
		target := strings.TrimSuffix(name, ".br")
		if b, ok := d.builtin[target]; ok && simSHA(b) == hash {
			tree[target] = b
			continue
		}
		if b, ok := d.cache[hash]; ok { // SHA-256 names: existence is trusted
			tree[target] = b
			continue
		}
		b, err := d.fetch(ctx, *e.DownloadURL, true)
		if err != nil {
			return nil, fmt.Errorf("download_manifest_file_fail: %w", err)
		}
		if strings.HasSuffix(name, ".br") {
			d.brObjects[name] = b
			if b, err = simBrotli(b); err != nil {
				return nil, fmt.Errorf("download_manifest_brotli_fail: %s: %w", name, err)
			}
		}
		if got := simSHA(b); got != hash {
			return nil, fmt.Errorf("download_manifest_checksum_fail: %s: got %s, want %s", name, got, hash)
		}
		tree[target] = b
	}
	return tree, nil
}

// simBrotli decodes as the plugin does, shortcuts included (§2.2 step 7):
// no bytes or 1B 00 06 is an empty file, and a stream that starts 1B 00 06 or 0B 02 80
// and ends 03 is taken as one uncompressed meta-block and stripped.
func simBrotli(b []byte) ([]byte, error) {
	if len(b) == 0 || bytes.Equal(b, []byte{0x1b, 0x00, 0x06}) {
		return []byte{}, nil
	}
	if len(b) >= 4 && b[len(b)-1] == 0x03 &&
		(bytes.HasPrefix(b, []byte{0x1b, 0x00, 0x06}) || bytes.HasPrefix(b, []byte{0x0b, 0x02, 0x80})) {
		return b[3 : len(b)-1], nil
	}
	return io.ReadAll(brotli.NewReader(bytes.NewReader(b)))
}

// simStrings turns a file tree into strings for readable comparisons (and
// so that a nil and an empty []byte compare equal).
func simStrings(files map[string][]byte) map[string]string {
	m := make(map[string]string, len(files))
	for k, v := range files {
		m[k] = string(v)
	}
	return m
}

// ---- fixtures ----

const devApp = "com.example.app"

// devBuild is a web build: path → content.
type devBuild map[string]string

// devWeb is a build with index.html (calling notifyAppReady), a small
// assets/app.js, a vendor file large enough for brotli, an empty file and
// a nested folder.
func devWeb(title, appJS string) devBuild {
	var vendor strings.Builder
	for i := 0; vendor.Len() < 24<<10; i++ {
		fmt.Fprintf(&vendor, "export function helper%d(a, b) { return a * %d + b; }\n", i, i%97)
	}
	return devBuild{
		"index.html": "<!doctype html><title>" + title + `</title><script src="assets/app.js"></script>` +
			"<script>window.Capacitor.Plugins.CapacitorUpdater.notifyAppReady()</script>\n",
		"assets/app.js":              appJS,
		"assets/vendor.js":           vendor.String(),
		"empty.txt":                  "",
		"assets/img/nested/deep.txt": "nested folders survive\n",
	}
}

// devVersion returns the build published as version: 1.0.1 changes
// index.html and app.js; 1.0.2 changes only app.js.
func devVersion(v string) devBuild {
	switch v {
	case "1.0.0":
		return devWeb("one", "console.log('1.0.0');\n")
	case "1.0.1":
		return devWeb("two", "console.log('1.0.1');\n")
	case "1.0.2":
		return devWeb("two", "console.log('1.0.2', 'only this file changed');\n")
	}
	panic("no build " + v)
}

func (b devBuild) write(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range b {
		p := filepath.Join(dir, filepath.FromSlash(name))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, []byte(content), 0o644))
	}
	return dir
}

// devRun runs the command in-process and requires exit status 0.
func devRun(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(""), &out, &errb)
	require.Equal(t, exitOK, code, "capstatic %s\nstderr: %s", strings.Join(args, " "), errb.String())
	return out.String()
}

// devFast is the brotli quality of fixtures whose test does not depend on
// it: the default (11) costs about 2 s of CPU per new tree under -race, so
// only the tests about the real wiring and brotli objects pay for it.
const devFast = "--brotli-level=9"

func devPublish(t *testing.T, tree, version, channel string, flags ...string) {
	t.Helper()
	devRun(t, append([]string{"publish", devVersion(version).write(t), "--store", tree, "--app", devApp,
		"--version", version, "--channel", channel, "--json"}, flags...)...)
}

// devTree returns a tree where 1.0.0 then 1.0.1 were published to the
// production channel with the given publish flags.
func devTree(t *testing.T, flags ...string) string {
	t.Helper()
	tree := t.TempDir()
	devPublish(t, tree, "1.0.0", "production", flags...)
	devPublish(t, tree, "1.0.1", "production", flags...)
	return tree
}

// devSyncBuffer is a bytes.Buffer safe for one writer and one reader.
type devSyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *devSyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *devSyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// devServe runs Run("serve") on a free loopback port until the test ends
// and returns its base URL. The pointer TTL is 0 so that publishes made
// during the test are seen at once.
func devServe(t *testing.T, tree string) string {
	t.Helper()
	for attempt := 0; ; attempt++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := ln.Addr().String()
		ln.Close()
		ctx, cancel := context.WithCancel(context.Background())
		stderr := &devSyncBuffer{}
		done := make(chan int, 1)
		args := []string{"serve", "--store", tree, "--addr", addr, "--public-url", "http://" + addr,
			"--stats", "none", "--ttl", "0s", "--log-level", "error"}
		go func() { done <- Run(ctx, args, strings.NewReader(""), io.Discard, stderr) }()
		deadline := time.After(10 * time.Second)
	wait:
		for !strings.Contains(stderr.String(), " on http://"+addr) {
			select {
			case code := <-done:
				cancel()
				require.Less(t, attempt, 3, "serve exited with %d: %s", code, stderr.String())
				break wait
			case <-deadline:
				cancel()
				t.Fatalf("serve did not start: %s", stderr.String())
			case <-time.After(5 * time.Millisecond):
			}
		}
		if !strings.Contains(stderr.String(), " on http://"+addr) {
			continue // the port was taken in between; try another
		}
		t.Cleanup(func() {
			cancel()
			select {
			case code := <-done:
				assert.Equal(t, exitOK, code, "serve exit status; stderr: %s", stderr.String())
			case <-time.After(15 * time.Second):
				t.Error("serve did not stop after its context was cancelled")
			}
		})
		return "http://" + addr
	}
}

// devHTTP serves tree with resolver.NewServer behind httptest and returns
// the base URL.
func devHTTP(t *testing.T, tree string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	src := resolver.FS(os.DirFS(tree))
	cat := resolver.NewCatalog(src, resolver.URLs{Files: base + "/files", Builtin: base + "/builtin"}, nil)
	cat.TTL = 0
	srv.Config.Handler = resolver.NewServer(resolver.Config{Catalog: cat, Files: src})
	srv.Start()
	t.Cleanup(srv.Close)
	return base
}

func devCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// devChecksumFormat matches a CRC32 (8) or SHA-256 (64) lower-case hex.
var devChecksumFormat = map[bool]*regexp.Regexp{
	false: regexp.MustCompile(`^[0-9a-f]{8}$`),
	true:  regexp.MustCompile(`^[0-9a-f]{64}$`),
}

// devAnswer decodes an update answer.
func devAnswer(t *testing.T, raw []byte) simAnswer {
	t.Helper()
	var a simAnswer
	require.NoError(t, json.Unmarshal(raw, &a), "answer %s", raw)
	return a
}

// ---- end-to-end tests ----

// TestDevice_FreshInstall: every generation, on a fresh install whose binary
// carries 1.0.0, gets 1.0.1 in the form its plugin handles, installs exactly
// the build folder, and is then told it is up to date. Served by
// Run("serve").
func TestDevice_FreshInstall(t *testing.T) {
	t.Parallel()
	tree := devTree(t)
	devRun(t, "channel", "create", "zips", "--store", tree, "--app", devApp,
		"--self-assign", "--zip-only", "--target", "1.0.1")
	base := devServe(t, tree)
	v100 := devVersion("1.0.0")
	tests := []struct {
		name, profile string
		channel       string   // defaultChannel
		builtin       devBuild // nil: the binary's files match nothing
		via           string
	}{
		{"L-android", "L-android", "", v100, "zip"},
		{"L-ios", "L-ios", "", v100, "zip"},
		{"M-6.14.26", "M-6.14.26", "", v100, "zip"},
		{"M-7.36.1", "M-7.36.1", "", v100, "manifest"},
		{"N-android", "N-android", "", v100, "manifest"},
		{"N-ios", "N-ios", "", v100, "manifest"},
		{"N-android/no-builtin", "N-android", "", nil, "manifest"},
		{"N-ios/no-builtin", "N-ios", "", nil, "manifest"},
		{"N-android/zip-only", "N-android", "zips", v100, "zip"},
		{"N-ios/zip-only", "N-ios", "zips", v100, "zip"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := devCtx(t)
			d := newSimDevice(t, tc.profile, base+"/updates", tc.builtin)
			d.defaultChannel = tc.channel
			res, err := d.check(ctx)
			require.NoError(t, err, "first check")
			require.True(t, res.Updated, "first check: answer %s", res.Raw)
			a := devAnswer(t, res.Raw)
			assert.Equal(t, "1.0.1", d.versionName)
			assert.Equal(t, tc.via, res.Via, "download path")
			_, hasManifest := res.Keys["manifest"]
			assert.Equal(t, tc.via == "manifest", hasManifest, "manifest key in %s", res.Raw)
			assert.Regexp(t, devChecksumFormat[d.sha256], simDeref(a.Checksum), "checksum")
			assert.Equal(t, "", simDeref(a.SessionKey), "session_key")
			for _, k := range []string{"error", "kind", "message"} {
				assert.NotContains(t, res.Keys, k, "update answer")
			}
			// The bundle is the build folder: names and bytes, empty
			// file and nested folder included, on both download paths.
			assert.Equal(t, map[string]string(devVersion("1.0.1")), simStrings(d.files), "installed tree via %s", res.Via)

			again, err := d.check(ctx)
			require.NoError(t, err, "second check")
			assert.False(t, again.Updated, "second check: %s", again.Raw)
			assert.Equal(t, "no_new_version_available", again.Error)
			assert.Equal(t, "No new version available", again.Message)
			assert.Contains(t, again.Keys, "message", "L and M need message")
			assert.JSONEq(t, `"up_to_date"`, string(again.Keys["kind"]), "kind")
			if d.gen == genN {
				assert.Equal(t, "up_to_date", again.Kind)
			}
		})
	}
}

// TestDevice_DeltaOneFileChanged: a device holding 1.0.1 (installed from
// the network, so in its delta cache) downloads only the changed file of
// 1.0.2, and exactly that object's bytes.
func TestDevice_DeltaOneFileChanged(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		builtin devBuild
	}{
		{"cache", nil},
		{"builtin+cache", devVersion("1.0.0")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ctx := devCtx(t)
			tree := devTree(t, devFast)
			base := devHTTP(t, tree)
			d := newSimDevice(t, "N-android", base+"/updates", tc.builtin)
			res, err := d.check(ctx)
			require.NoError(t, err)
			require.True(t, res.Updated, "1.0.1: %s", res.Raw)
			require.Equal(t, "1.0.1", d.versionName)

			devPublish(t, tree, "1.0.2", "production", devFast)
			d.downloaded, d.fetched = 0, nil
			res, err = d.check(ctx)
			require.NoError(t, err)
			require.True(t, res.Updated, "1.0.2: %s", res.Raw)
			assert.Equal(t, "1.0.2", d.versionName)
			assert.Equal(t, "manifest", res.Via)
			assert.Equal(t, map[string]string(devVersion("1.0.2")), simStrings(d.files), "installed tree")

			var want string
			for _, e := range devAnswer(t, res.Raw).Manifest {
				if strings.TrimSuffix(simDeref(e.FileName), ".br") == "assets/app.js" {
					want = simDeref(e.DownloadURL)
				}
			}
			require.NotEmpty(t, want, "assets/app.js in the manifest %s", res.Raw)
			assert.Equal(t, []string{want}, d.fetched, "files downloaded")
			rel, ok := strings.CutPrefix(want, base+"/files/")
			require.True(t, ok, "object URL %s", want)
			st, err := os.Stat(filepath.Join(tree, filepath.FromSlash(rel)))
			require.NoError(t, err)
			assert.Equal(t, st.Size(), d.downloaded, "bytes downloaded")
		})
	}
}

// TestDevice_LegacyAnswers: legacy plugins never get a manifest and get a
// CRC32; an upper-case (L-iOS) device id is the same device as its
// lower-case form, so an override set for one applies to the other.
func TestDevice_LegacyAnswers(t *testing.T) {
	t.Parallel()
	tree := t.TempDir()
	devPublish(t, tree, "1.0.0", "production", devFast)
	devPublish(t, tree, "1.0.1", "beta", devFast)
	pinned := simUUID("pinned device")
	devRun(t, "overrides", "set", pinned, "beta", "--store", tree, "--app", devApp)
	base := devHTTP(t, tree)

	t.Run("DeviceIDCase", func(t *testing.T) {
		t.Parallel()
		ctx := devCtx(t)
		answers := map[string]*simResult{}
		for _, tc := range []struct{ name, profile, id string }{
			{"ios-upper", "L-ios", strings.ToUpper(pinned)},
			{"ios-lower", "L-ios", pinned},
			{"android-lower", "L-android", pinned},
		} {
			d := newSimDevice(t, tc.profile, base+"/updates", devVersion("1.0.0"))
			d.deviceID = tc.id
			res, err := d.check(ctx)
			require.NoError(t, err, tc.name)
			assert.True(t, res.Updated, "%s: %s", tc.name, res.Raw)
			assert.Equal(t, map[string]string(devVersion("1.0.1")), simStrings(d.files), tc.name)
			answers[tc.name] = res
		}
		assert.Equal(t, string(answers["ios-lower"].Raw), string(answers["ios-upper"].Raw), "upper vs lower case id")
		assert.Equal(t, string(answers["ios-lower"].Raw), string(answers["android-lower"].Raw), "iOS vs Android")

		other := newSimDevice(t, "L-ios", base+"/updates", devVersion("1.0.0")) // not pinned
		res, err := other.check(ctx)
		require.NoError(t, err)
		assert.False(t, res.Updated, "unpinned device: %s", res.Raw)
		assert.Equal(t, "no_new_version_available", res.Error)
	})

	t.Run("NoManifest", func(t *testing.T) {
		t.Parallel()
		ctx := devCtx(t)
		for _, tc := range []struct {
			plugin     string
			hasDefault bool
			legacy     bool
		}{
			{"10.0.0", false, true}, {"9.0.0", false, true}, {"7.0.0", false, true},
			{"5.0.1", false, true}, {"5.0.0", false, true},
			// The same numbers with a defaultChannel key are genuine newer plugins.
			{"10.0.0", true, false}, {"9.0.0", true, false},
		} {
			name := fmt.Sprintf("%s/defaultChannel=%v", tc.plugin, tc.hasDefault)
			profile := "N-android"
			if !tc.hasDefault {
				profile = "L-android" // the request shape of §1.1: no defaultChannel key
			}
			d := newSimDevice(t, profile, base+"/updates", nil)
			d.deviceID, d.plugin = pinned, tc.plugin
			res, err := d.check(ctx)
			require.NoError(t, err, name)
			_, hasManifest := res.Keys["manifest"]
			assert.Equal(t, !tc.legacy, hasManifest, "%s: manifest in %s", name, res.Raw)
			assert.Regexp(t, devChecksumFormat[!tc.legacy], simDeref(devAnswer(t, res.Raw).Checksum), name)
		}
	})
}

// TestDevice_ZipURL: the zip URL answers HEAD and Range requests (N-Android
// resumes with Range) and can be fetched any number of times (L-Android
// opens it twice).
func TestDevice_ZipURL(t *testing.T) {
	t.Parallel()
	ctx := devCtx(t)
	tree := devTree(t, devFast)
	base := devHTTP(t, tree)
	d := newSimDevice(t, "L-android", base+"/updates", devVersion("1.0.0"))
	res, err := d.check(ctx)
	require.NoError(t, err)
	require.True(t, res.Updated, "answer %s", res.Raw)
	zipURL := simDeref(devAnswer(t, res.Raw).URL)
	assert.Equal(t, []string{zipURL, zipURL}, d.fetched, "L-Android opens the zip URL twice")
	client := &http.Client{Timeout: 10 * time.Second}
	do := func(method, rng string) (*http.Response, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(ctx, method, zipURL, nil)
		require.NoError(t, err)
		if rng != "" {
			req.Header.Set("Range", rng)
		}
		resp, err := client.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp, b
	}

	first, full := do(http.MethodGet, "")
	second, again := do(http.MethodGet, "")
	assert.Equal(t, http.StatusOK, first.StatusCode)
	assert.Equal(t, http.StatusOK, second.StatusCode, "second GET")
	assert.Equal(t, full, again, "second GET body")
	n := int64(len(full))
	require.Greater(t, n, int64(10))
	assert.Equal(t, simDeref(devAnswer(t, res.Raw).Checksum), fmt.Sprintf("%08x", crc32.ChecksumIEEE(full)))

	head, body := do(http.MethodHead, "")
	assert.Equal(t, http.StatusOK, head.StatusCode, "HEAD")
	assert.Equal(t, n, head.ContentLength, "HEAD Content-Length")
	assert.Equal(t, "bytes", head.Header.Get("Accept-Ranges"), "HEAD Accept-Ranges")
	assert.Empty(t, body, "HEAD body")

	part, tail := do(http.MethodGet, "bytes=10-")
	assert.Equal(t, http.StatusPartialContent, part.StatusCode, "Range")
	assert.Equal(t, fmt.Sprintf("bytes 10-%d/%d", n-1, n), part.Header.Get("Content-Range"))
	assert.Equal(t, n-10, part.ContentLength, "Range Content-Length")
	assert.Equal(t, full[10:], tail, "Range body")
}

// TestDevice_BrotliObjects: every .br object in the tree, and every one a
// device downloaded, decodes with the reference `brotli -d` to the same
// bytes as with the Go decoder, none trips the plugin's shortcuts, and the
// empty file travels as a real brotli stream.
func TestDevice_BrotliObjects(t *testing.T) {
	t.Parallel()
	bin, err := exec.LookPath("brotli")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("brotli command needed in CI: %v", err)
		}
		t.Skipf("brotli command not installed: %v", err)
	}
	ctx := devCtx(t)
	tree := devTree(t)
	base := devHTTP(t, tree)
	d := newSimDevice(t, "N-android", base+"/updates", nil)
	res, err := d.check(ctx)
	require.NoError(t, err)
	require.True(t, res.Updated, "answer %s", res.Raw)
	build := devVersion("1.0.1")
	require.Contains(t, d.brObjects, "assets/vendor.js.br", "vendor.js goes as brotli")
	require.Contains(t, d.brObjects, "empty.txt.br", "the empty file is in the manifest, as brotli")

	reference := func(raw []byte) []byte {
		t.Helper()
		p := filepath.Join(t.TempDir(), "object.br")
		require.NoError(t, os.WriteFile(p, raw, 0o644))
		out, err := exec.CommandContext(ctx, bin, "-d", "-c", p).Output()
		require.NoError(t, err, "brotli -d %x", raw[:min(len(raw), 16)])
		return out
	}
	for name, raw := range d.brObjects {
		want := build[strings.TrimSuffix(name, ".br")]
		assert.Equal(t, want, string(reference(raw)), "brotli -d of downloaded %s", name)
	}

	objects, err := filepath.Glob(filepath.Join(tree, devApp, "files", "*.br"))
	require.NoError(t, err)
	require.NotEmpty(t, objects)
	for _, p := range objects {
		raw, err := os.ReadFile(p)
		require.NoError(t, err)
		got, err := io.ReadAll(brotli.NewReader(bytes.NewReader(raw)))
		require.NoError(t, err, p)
		assert.Equal(t, got, reference(raw), "Go decoder vs brotli -d: %s", p)
		shortcut := raw[len(raw)-1] == 0x03 && (bytes.HasPrefix(raw, []byte{0x1b, 0x00, 0x06}) ||
			bytes.HasPrefix(raw, []byte{0x0b, 0x02, 0x80}))
		assert.False(t, shortcut || bytes.Equal(raw, []byte{0x1b, 0x00, 0x06}), "plugin shortcut pattern: %s", p)
		assert.Equal(t, strings.TrimSuffix(filepath.Base(p), ".br"), simSHA(got), "object named by its content digest")
	}
}

// ---- the simulator's own rules ----

// TestSimDevice_Request: each generation sends the headers and body keys of
// capgo-protocol.md §1.1.
func TestSimDevice_Request(t *testing.T) {
	t.Parallel()
	legacyKeys := []string{"app_id", "custom_id", "device_id", "is_emulator", "is_prod", "platform",
		"plugin_version", "version_build", "version_code", "version_name", "version_os"}
	tests := []struct {
		profile, contentType, userAgent string
		keys                            []string // beyond the 11 legacy keys
		upperID                         bool
	}{
		{"L-android", "application/json; charset=utf-8", "Dalvik/", nil, false},
		{"L-ios", "application/json", "Alamofire/", nil, true},
		{"M-6.14.26", "application/json; charset=utf-8", "okhttp/", []string{"defaultChannel"}, false},
		{"N-android", "application/json; charset=utf-8", "CapacitorUpdater/8.51.23 (com.example.app) android/14",
			[]string{"defaultChannel", "install_source", "key_id"}, false},
		{"N-ios", "application/json", "CapacitorUpdater/8.51.23 (com.example.app) ios/17.4",
			[]string{"defaultChannel", "install_source"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.profile, func(t *testing.T) {
			t.Parallel()
			type capture struct {
				header http.Header
				body   map[string]json.RawMessage
			}
			seen := make(chan capture, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				c := capture{header: r.Header.Clone()}
				assert.NoError(t, json.NewDecoder(r.Body).Decode(&c.body))
				seen <- c
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"error":"no_new_version_available","message":"No new version available","kind":"up_to_date"}`)
			}))
			defer srv.Close()
			d := newSimDevice(t, tc.profile, srv.URL+"/updates", nil)
			if slices.Contains(tc.keys, "key_id") {
				d.keyID = "MIIBCgKCAQEAx1y2z3w4"
			}
			res, err := d.check(devCtx(t))
			require.NoError(t, err)
			assert.Equal(t, "no_new_version_available", res.Error)
			got := <-seen
			body := got.body
			assert.Equal(t, tc.contentType, got.header.Get("Content-Type"))
			assert.Contains(t, got.header.Get("User-Agent"), tc.userAgent)
			keys := slices.Sorted(maps.Keys(body))
			assert.Equal(t, slices.Sorted(slices.Values(append(slices.Clone(legacyKeys), tc.keys...))), keys, "body keys")
			var id string
			require.NoError(t, json.Unmarshal(body["device_id"], &id))
			assert.Equal(t, tc.upperID, id == strings.ToUpper(id), "device_id case: %s", id)
			if slices.Contains(tc.keys, "defaultChannel") {
				assert.JSONEq(t, `""`, string(body["defaultChannel"]), "defaultChannel sent even when empty")
			}
		})
	}
}

// TestSimDevice_Flatten: the bundle-root rules of §7.
func TestSimDevice_Flatten(t *testing.T) {
	t.Parallel()
	index := []byte("<html>")
	tests := []struct {
		name         string
		files        []string
		dirs         []string
		android, ios bool // usable on that platform
	}{
		{"root", []string{"index.html", "assets/app.js"}, nil, true, true},
		{"one-folder", []string{"www/index.html", "www/assets/app.js"}, []string{"www"}, true, true},
		{"folder+__MACOSX", []string{"www/index.html", "__MACOSX/www/._index.html"}, nil, true, false},
		{"folder+.DS_Store", []string{"www/index.html", ".DS_Store"}, nil, true, false},
		{"two-folders", []string{"www/index.html", "other/index.html"}, nil, false, false},
		{"no-index", []string{"main.html", "assets/app.js"}, nil, false, false},
		{"one-file", []string{"app.js"}, nil, false, false},
		{"index-only", []string{"index.html"}, nil, true, true},
	}
	for _, tc := range tests {
		for _, platform := range []string{"android", "ios"} {
			files := map[string][]byte{}
			for _, f := range tc.files {
				files[f] = index
			}
			out, err := simFlatten(platform, files, tc.dirs)
			want := map[string]bool{"android": tc.android, "ios": tc.ios}[platform]
			assert.Equal(t, want, err == nil, "%s on %s: %v", tc.name, platform, err)
			if err == nil {
				assert.Contains(t, out, "index.html", "%s on %s", tc.name, platform)
			}
		}
	}
}

// TestSimDevice_ManifestRules: the simulator refuses the manifests the
// plugin refuses (§2.2 step 3 and 8), so the end-to-end tests would catch
// a server that sends them.
func TestSimDevice_ManifestRules(t *testing.T) {
	t.Parallel()
	content := []byte("console.log(1)")
	sum := simSHA(content)
	var buf bytes.Buffer
	bw := brotli.NewWriter(&buf)
	bw.Write(content)
	require.NoError(t, bw.Close())
	row := func(name, hash string) map[string]string {
		return map[string]string{"file_name": name, "file_hash": hash, "download_url": "/f/" + url.PathEscape(name)}
	}
	indexRow := row("index.html", simSHA([]byte("<html>")))
	tests := []struct {
		name string
		rows []map[string]string
		want string // "" means installed
	}{
		{"ok", []map[string]string{indexRow, row("assets/a.js", sum)}, ""},
		{"ok/brotli", []map[string]string{indexRow, row("assets/a.js.br", sum)}, ""},
		{"dotdot", []map[string]string{indexRow, row("../a.js", sum)}, "manifest_path_fail"},
		{"inner-dotdot", []map[string]string{indexRow, row("assets/../../a.js", sum)}, "manifest_path_fail"},
		{"absolute", []map[string]string{indexRow, row("/etc/a.js", sum)}, "manifest_path_fail"},
		{"backslash", []map[string]string{indexRow, row(`assets\a.js`, sum)}, "manifest_path_fail"},
		{"nul", []map[string]string{indexRow, row("a\x00.js", sum)}, "manifest_path_fail"},
		{"empty", []map[string]string{indexRow, row(".br", sum)}, "manifest_path_fail"},
		{"dot", []map[string]string{indexRow, row("./", sum)}, "manifest_path_fail"},
		{"duplicate", []map[string]string{indexRow, row("a.js", sum), row("a.js.br", sum)}, "manifest_path_fail"},
		{"hash-mismatch", []map[string]string{indexRow, row("a.js", simSHA([]byte("other")))}, "checksum_fail"},
		{"hash-upper-case", []map[string]string{indexRow, row("a.js", strings.ToUpper(sum))}, "checksum_fail"},
		{"no-index", []map[string]string{row("a.js", sum)}, "set_fail"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				switch name, _ := url.PathUnescape(strings.TrimPrefix(r.URL.EscapedPath(), "/f/")); {
				case r.Method == http.MethodPost:
					base := "http://" + r.Host
					rows := make([]map[string]string, len(tc.rows))
					for i, m := range tc.rows {
						rows[i] = maps.Clone(m)
						rows[i]["download_url"] = base + m["download_url"]
					}
					json.NewEncoder(w).Encode(map[string]any{"version": "1.0.1", "url": base + "/zip",
						"session_key": "", "checksum": strings.Repeat("0", 64), "manifest": rows})
				case name == "index.html":
					io.WriteString(w, "<html>")
				case strings.HasSuffix(name, ".br"):
					w.Write(buf.Bytes())
				default:
					w.Write(content)
				}
			}))
			defer srv.Close()
			d := newSimDevice(t, "N-ios", srv.URL+"/updates", nil)
			res, err := d.check(devCtx(t))
			if tc.want == "" {
				require.NoError(t, err)
				assert.True(t, res.Updated)
				assert.Equal(t, map[string]string{"index.html": "<html>", "assets/a.js": string(content)}, simStrings(d.files))
				return
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, "builtin", d.versionName, "nothing installed")
		})
	}
}
