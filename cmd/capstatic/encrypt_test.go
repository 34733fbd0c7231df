package main

// End-to-end tests of encrypted releases (capgo-protocol.md §3, §4, §9):
// keys made by `capstatic keys create` and by `capgo key create`, bundles
// published with `capstatic publish --encrypt` and imported from
// `capgo bundle zip` / `capgo bundle encrypt`, checked by the real Capgo
// CLI, by openssl, by `capstatic decrypt`, and by devices of each plugin
// generation talking to the resolver. After every publish the whole tree is
// scanned for private key material (keyscan_test.go).
//
// These tests run the command in-process without changing the working
// folder or reading the process environment (encRun), so they run in
// parallel; only TestEncrypt_Defaults, which tests the ./ defaults, changes
// folder.

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/e2e"
	"github.com/capstatic/capstatic/resolver"
)

const encApp = "com.example.secret"

// encRun runs capstatic in-process; vars is its whole environment, and the
// working folder is left alone.
func encRun(t *testing.T, vars map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	e := &env{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, getenv: func(k string) string { return vars[k] }}
	for _, c := range commands() {
		if c.name == args[0] {
			code := exitCode(e, c.name, c.run(context.Background(), e, args[1:]))
			return code, out.String(), errb.String()
		}
	}
	t.Fatalf("no command %q", args[0])
	return 0, "", ""
}

// encMust runs capstatic and fails the test unless it exits 0.
func encMust(t *testing.T, args ...string) string {
	t.Helper()
	code, out, errs := encRun(t, nil, args...)
	require.Equal(t, 0, code, "capstatic %s\nstdout: %s\nstderr: %s", strings.Join(args, " "), out, errs)
	return out
}

func encKey(t *testing.T) *rsa.PrivateKey {
	t.Helper()
	k, err := e2e.GenerateKey()
	require.NoError(t, err)
	return k
}

func encRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return b
}

func encWrite(t *testing.T, path string, b []byte) {
	t.Helper()
	require.NoError(t, os.MkdirAll(filepath.Dir(path), 0o755))
	require.NoError(t, os.WriteFile(path, b, 0o644))
}

// encProject is a Capacitor project folder the Capgo CLI accepts
// (protocol §9), with a web build in www whose contents carry marker.
type encProject struct{ dir, cli string }

// encBigJS is a compressible script, so delta files are sent brotli.
var encBigJS = strings.Repeat("export const line = 'a compressible line of the secret app';\n", 400)

func newEncProject(t *testing.T, updater, marker string) encProject {
	t.Helper()
	p := encProject{dir: t.TempDir()}
	files := map[string]string{
		"capacitor.config.json": `{"appId":"` + encApp + `","appName":"secret","webDir":"www","plugins":{"CapacitorUpdater":{"autoUpdate":true},"Other":{"x":1}},"server":{"androidScheme":"https"}}`,
		"package.json":          `{"name":"secret","version":"1.0.0","dependencies":{"@capgo/capacitor-updater":"` + updater + `"}}`,
		"node_modules/@capgo/capacitor-updater/package.json": `{"name":"@capgo/capacitor-updater","version":"` + updater + `"}`,
		"www/index.html":       "<!doctype html><title>" + marker + "</title><script src=app.js></script>",
		"www/app.js":           "CapacitorUpdater.notifyAppReady(); // " + marker + "\n",
		"www/assets/big.js":    encBigJS + "// " + marker + "\n",
		"www/assets/copy.js":   encBigJS + "// " + marker + "\n",
		"www/assets/tiny.css":  "p{}",
		"www/assets/empty.txt": "",
	}
	for name, body := range files {
		encWrite(t, filepath.Join(p.dir, name), []byte(body))
	}
	return p
}

func (p encProject) path(name string) string { return filepath.Join(p.dir, name) }

// capgo runs the Capgo CLI in the project with stdin closed, reaching only
// loopback addresses; it returns stdout and stdout+stderr.
func (p encProject) capgo(t *testing.T, wantErr bool, args ...string) (stdout, all string) {
	t.Helper()
	if p.cli == "" {
		t.Fatal("encProject without the Capgo CLI")
	}
	preload, err := filepath.Abs("testdata/capgo/loopback.cjs")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.cli, args...)
	cmd.Dir = p.dir
	cmd.Env = append(os.Environ(), "HOME="+t.TempDir(), "CAPGO_DISABLE_TELEMETRY=1", "CAPGO_TOKEN=", "NO_COLOR=1",
		"NODE_OPTIONS=--require="+preload)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	all = out.String() + errb.String()
	if wantErr {
		require.Error(t, err, "capgo %s succeeded: %s", strings.Join(args, " "), all)
	} else {
		require.NoError(t, err, "capgo %s: %s", strings.Join(args, " "), all)
	}
	return out.String(), all
}

// encHTTP serves tree with resolver.NewServer behind httptest and returns
// the base URL.
func encHTTP(t *testing.T, tree string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	base := "http://" + srv.Listener.Addr().String()
	src := resolver.FS(os.DirFS(tree))
	cat := resolver.NewCatalog(src, resolver.URLs{Files: base + "/files", Builtin: base + "/builtin"}, nil)
	srv.Config.Handler = resolver.NewServer(resolver.Config{Catalog: cat, Files: src})
	srv.Start()
	t.Cleanup(srv.Close)
	return base
}

// encKeys reads a key pair written by `keys create` or `capgo key create`.
func encKeys(t *testing.T, privPath string) *rsa.PrivateKey {
	t.Helper()
	priv, err := e2e.ParsePrivate(encRead(t, privPath))
	require.NoError(t, err, "parse %s", privPath)
	pub, err := e2e.ParsePublic(encRead(t, privPath+".pub"))
	require.NoError(t, err, "parse %s.pub", privPath)
	require.True(t, priv.PublicKey.Equal(pub), "%s and its .pub are one pair", privPath)
	return priv
}

// encClearZip publishes dir clear into a scratch tree and returns the zip
// the publisher built: its writeZip is deterministic, so this is the exact
// clear zip of an encrypted publish of the same folder.
func encClearZip(t *testing.T, dir, version string) []byte {
	t.Helper()
	tree := t.TempDir()
	encMust(t, "publish", dir, "--store", tree, "--app", encApp, "--version", version, "--quiet")
	rec := encBundle(t, tree, version)
	require.NotNil(t, rec.Zip)
	return encRead(t, filepath.Join(tree, filepath.FromSlash(rec.Zip.Path)))
}

// encBundle returns the record of a published version.
func encBundle(t *testing.T, tree, version string) *manifest.Bundle {
	t.Helper()
	store, err := publish.NewDir(tree)
	require.NoError(t, err)
	rec, err := publish.LoadBundle(context.Background(), store, encApp, version)
	require.NoError(t, err)
	return rec
}

// encTreeFiles returns every file under the app's folder of tree, by tree
// path.
func encTreeFiles(t *testing.T, tree string) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	root := filepath.Join(tree, encApp)
	require.NoError(t, filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(tree, p)
		if err != nil {
			return err
		}
		files[filepath.ToSlash(rel)] = encRead(t, p)
		return nil
	}))
	return files
}

// assertCiphertextOnly checks that the app's folder holds nothing clear:
// besides the JSON documents (pointer, states, bundle records), every file
// is an object of an encryption record of rec, a whole number of AES
// blocks, not a zip, and no file holds content of the build.
func assertCiphertextOnly(t *testing.T, tree string, rec *manifest.Bundle, build string) {
	t.Helper()
	objects := map[string]bool{}
	for _, k := range rec.Keys {
		objects[k.Zip.Path] = true
		for _, f := range k.Files {
			objects[f.Object.Path] = true
		}
	}
	var clear [][]byte
	require.NoError(t, filepath.WalkDir(build, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if b := encRead(t, p); len(b) > 16 {
				clear = append(clear, b[:16], b[len(b)-16:])
			}
		}
		return err
	}))
	for name, b := range encTreeFiles(t, tree) {
		for _, c := range clear {
			assert.False(t, bytes.Contains(b, c), "%s holds clear content of the build", name)
		}
		switch {
		case name == manifest.PointerPath(encApp), strings.HasPrefix(name, encApp+"/states/"),
			strings.HasSuffix(name, "/bundle.json"):
			assert.True(t, json.Valid(b), "%s is JSON", name)
			continue
		}
		assert.True(t, objects[name], "%s is not an encrypted object of the bundle", name)
		assert.False(t, strings.HasSuffix(name, "/bundle.zip"), "clear zip %s", name)
		assert.Zero(t, len(b)%16, "%s is not whole AES blocks", name)
		assert.False(t, bytes.HasPrefix(b, []byte("PK\x03\x04")), "%s is a zip", name)
	}
}

// TestEncrypt_PublishCapgoDecrypt publishes with keys from `keys create`
// (v2 and v1) and proves: the tree holds ciphertext only and no private key
// material; the record keeps the clear zip's sha256 and crc32; the real
// `capgo bundle decrypt` opens our v2 zip with our session key and V3
// checksum, prints "Checksum matches" and writes exactly the clear zip; and
// `capstatic decrypt --store` checks both records and every delta file.
func TestEncrypt_PublishCapgoDecrypt(t *testing.T) {
	t.Parallel()
	cli := capgoCLI(t)
	p := newEncProject(t, "8.51.23", "publish-capgo-decrypt")
	p.cli = cli
	out := encMust(t, "keys", "create", "--dir", p.dir)
	v2 := encKeys(t, p.path(".capgo_key_v2"))
	assert.Contains(t, out, "key id: "+e2e.KeyID(&v2.PublicKey))
	outL := encMust(t, "keys", "create", "--legacy", "--dir", p.dir)
	v1 := encKeys(t, p.path(".capgo_key"))
	assertNoKeyText(t, "keys create output", out+outL, v2, v1)

	tree := t.TempDir()
	out = encMust(t, "publish", p.path("www"), "--store", tree, "--app", encApp, "--version", "1.0.0",
		"--key", p.path(".capgo_key_v2"), "--legacy-key", p.path(".capgo_key.pub"))
	assertNoKeyText(t, "publish output", out, v2, v1)
	assertNoKeyMaterial(t, tree, v2, v1)
	assert.Contains(t, out, "encrypted for v2 key "+e2e.KeyID(&v2.PublicKey))

	rec := encBundle(t, tree, "1.0.0")
	assert.True(t, rec.Encrypted())
	assert.Empty(t, rec.Files, "no clear delta set")
	require.Len(t, rec.Keys, 2)
	assertCiphertextOnly(t, tree, rec, p.path("www"))
	clear := encClearZip(t, p.path("www"), "1.0.0")
	assert.Equal(t, manifest.Sum(clear), rec.SHA256, "record sha256 is the clear zip's")
	assert.Equal(t, e2e.CRC32Hex(clear), rec.CRC32)

	k2 := rec.Key(manifest.SchemeV2, e2e.KeyID(&v2.PublicKey))
	require.NotNil(t, k2)
	encWrite(t, p.path("ours.zip"), encRead(t, filepath.Join(tree, k2.Zip.Path)))
	_, all := p.capgo(t, false, "bundle", "decrypt", "ours.zip", k2.SessionKey, "--checksum", k2.ChecksumV3)
	assert.Contains(t, all, "Checksum matches")
	assert.Equal(t, clear, encRead(t, p.path("ours.zip_decrypted.zip")), "capgo's decrypted zip is our clear zip")

	out = encMust(t, "decrypt", "--store", tree, "--app", encApp, "--version", "1.0.0", "--key", p.path(".capgo_key_v2.pub"),
		"--out", p.path("v2.zip"))
	assert.Contains(t, out, "Checksum matches (V3, V2)")
	assert.Contains(t, out, "6 delta files decrypt and match")
	assert.Equal(t, clear, encRead(t, p.path("v2.zip")))
	out = encMust(t, "decrypt", "--store", tree, "--app", encApp, "--version", "1.0.0", "--legacy-key", p.path(".capgo_key"))
	assert.Contains(t, out, "Checksum matches (CRC32)")

	// The config holds both keys, every other setting kept in order.
	cfg := string(encRead(t, p.path("capacitor.config.json")))
	var parsed struct {
		AppID   string `json:"appId"`
		Plugins struct {
			CapacitorUpdater struct {
				AutoUpdate            bool
				PublicKey, PrivateKey string
			}
			Other struct{ X int }
		}
		Server struct{ AndroidScheme string }
	}
	require.NoError(t, json.Unmarshal([]byte(cfg), &parsed))
	assert.Equal(t, encApp, parsed.AppID)
	assert.True(t, parsed.Plugins.CapacitorUpdater.AutoUpdate)
	assert.Equal(t, 1, parsed.Plugins.Other.X)
	assert.Equal(t, "https", parsed.Server.AndroidScheme)
	assert.Equal(t, string(encRead(t, p.path(".capgo_key_v2.pub"))), parsed.Plugins.CapacitorUpdater.PublicKey)
	assert.Equal(t, string(encRead(t, p.path(".capgo_key"))), parsed.Plugins.CapacitorUpdater.PrivateKey, "v1 devices hold the private key")
	assert.Less(t, strings.Index(cfg, `"appId"`), strings.Index(cfg, `"plugins"`), "key order kept")
	assert.Less(t, strings.Index(cfg, `"plugins"`), strings.Index(cfg, `"server"`), "key order kept")
	for _, f := range []string{".capgo_key_v2", ".capgo_key"} {
		st, err := os.Stat(p.path(f))
		require.NoError(t, err)
		assert.Equal(t, os.FileMode(0o600), st.Mode().Perm(), "%s mode", f)
	}
}

// TestEncrypt_OpenSSL uses openssl as an independent oracle on a published
// tree: -verifyrecover on our v2 session key yields the AES key with which
// `openssl enc -d` turns our encrypted zip into the clear zip (and the V3
// checksum into its sha256); RSA-OAEP-SHA256 decryption with the v1 private
// key unwraps our v1 record's AES key, which decrypts the v1 zip.
func TestEncrypt_OpenSSL(t *testing.T) {
	t.Parallel()
	openssl, err := exec.LookPath("openssl")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("openssl not found")
		}
		t.Skip("openssl not found")
	}
	p := newEncProject(t, "8.51.23", "openssl")
	encMust(t, "keys", "create", "--dir", p.dir)
	encMust(t, "keys", "create", "--legacy", "--dir", p.dir)
	v2, v1 := encKeys(t, p.path(".capgo_key_v2")), encKeys(t, p.path(".capgo_key"))
	tree := t.TempDir()
	encMust(t, "publish", p.path("www"), "--store", tree, "--app", encApp, "--version", "1.0.0", "--quiet",
		"--encrypt", "--key", p.path(".capgo_key_v2"), "--encrypt-legacy", "--legacy-key", p.path(".capgo_key.pub"))
	assertNoKeyMaterial(t, tree, v2, v1)
	rec := encBundle(t, tree, "1.0.0")
	clear := encClearZip(t, p.path("www"), "1.0.0")
	work := t.TempDir()
	ossl := func(args ...string) {
		t.Helper()
		cmd := exec.Command(openssl, args...)
		cmd.Dir = work
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "openssl %s: %s", strings.Join(args, " "), out)
	}
	split := func(sessionKey string) (iv, wrapped []byte) {
		a, b, ok := strings.Cut(sessionKey, ":")
		require.True(t, ok)
		iv, err := base64.StdEncoding.DecodeString(a)
		require.NoError(t, err)
		wrapped, err = base64.StdEncoding.DecodeString(b)
		require.NoError(t, err)
		return iv, wrapped
	}
	decryptZip := func(key, iv []byte, zipPath, out string) []byte {
		t.Helper()
		ossl("enc", "-d", "-aes-128-cbc", "-K", hex.EncodeToString(key), "-iv", hex.EncodeToString(iv),
			"-in", filepath.Join(tree, zipPath), "-out", out)
		return encRead(t, filepath.Join(work, out))
	}

	k2 := rec.Key(manifest.SchemeV2, e2e.KeyID(&v2.PublicKey))
	require.NotNil(t, k2)
	ossl("rsa", "-RSAPublicKey_in", "-in", p.path(".capgo_key_v2.pub"), "-pubout", "-out", "pub.pem")
	iv, wrapped := split(k2.SessionKey)
	encWrite(t, filepath.Join(work, "wrapped.bin"), wrapped)
	ossl("pkeyutl", "-verifyrecover", "-pubin", "-inkey", "pub.pem", "-pkeyopt", "rsa_padding_mode:pkcs1", "-in", "wrapped.bin", "-out", "key.bin")
	key := encRead(t, filepath.Join(work, "key.bin"))
	require.Len(t, key, 16)
	assert.Equal(t, clear, decryptZip(key, iv, k2.Zip.Path, "v2.zip"), "openssl decrypts the v2 zip to the clear zip")
	v3, err := hex.DecodeString(k2.ChecksumV3)
	require.NoError(t, err)
	encWrite(t, filepath.Join(work, "v3.bin"), v3)
	ossl("pkeyutl", "-verifyrecover", "-pubin", "-inkey", "pub.pem", "-pkeyopt", "rsa_padding_mode:pkcs1", "-in", "v3.bin", "-out", "sum.bin")
	sum := sha256.Sum256(clear)
	assert.Equal(t, sum[:], encRead(t, filepath.Join(work, "sum.bin")), "V3 checksum recovers the clear sha256")

	k1 := rec.Key(manifest.SchemeV1, e2e.KeyID(&v1.PublicKey))
	require.NotNil(t, k1)
	iv, wrapped = split(k1.SessionKey)
	encWrite(t, filepath.Join(work, "wrapped1.bin"), wrapped)
	ossl("pkeyutl", "-decrypt", "-inkey", p.path(".capgo_key"), "-pkeyopt", "rsa_padding_mode:oaep",
		"-pkeyopt", "rsa_oaep_md:sha256", "-pkeyopt", "rsa_mgf1_md:sha256", "-in", "wrapped1.bin", "-out", "key1.bin")
	key = encRead(t, filepath.Join(work, "key1.bin"))
	require.Len(t, key, 16)
	assert.Equal(t, clear, decryptZip(key, iv, k1.Zip.Path, "v1.zip"), "openssl decrypts the v1 zip to the clear zip")
}

// TestEncrypt_CapgoArtefacts proves that our keys work with
// `capgo bundle encrypt`, that `capstatic decrypt` opens what that command
// makes (and refuses a wrong checksum), and that its zip is published as
// it is with `publish --import-zip`, while `publish --zip` publishes the
// clear zip of `capgo bundle zip` byte for byte, clear or encrypted.
func TestEncrypt_CapgoArtefacts(t *testing.T) {
	t.Parallel()
	p := newEncProject(t, "8.51.23", "artefacts")
	p.cli = capgoCLI(t)
	encMust(t, "keys", "create", "--dir", p.dir)
	priv := encKeys(t, p.path(".capgo_key_v2"))
	pubFile := p.path(".capgo_key_v2.pub")

	stdout, _ := p.capgo(t, false, "bundle", "zip", "-b", "1.0.1", "--json")
	var zipped struct{ Filename, Checksum string }
	require.NoError(t, json.Unmarshal([]byte(stdout), &zipped), "bundle zip --json: %s", stdout)
	clear := encRead(t, p.path(zipped.Filename))
	stdout, all := p.capgo(t, false, "bundle", "encrypt", zipped.Filename, zipped.Checksum, "--json")
	var enc struct{ Checksum, Filename, IVSessionKey string }
	require.NoError(t, json.Unmarshal([]byte(stdout), &enc), "bundle encrypt --json: %s", all)
	require.Len(t, enc.Checksum, 512, "V3 for updater 8.51.23")

	// capstatic decrypt of capgo's zip, with our public key.
	out := encMust(t, "decrypt", p.path(enc.Filename), "--session-key", enc.IVSessionKey, "--checksum", enc.Checksum,
		"--key", pubFile, "--out", p.path("back.zip"))
	assert.Contains(t, out, "Checksum matches")
	assert.Equal(t, clear, encRead(t, p.path("back.zip")))
	other, err := e2e.WrapChecksumV3(priv, strings.Repeat("ab", 32))
	require.NoError(t, err)
	code, _, errs := encRun(t, nil, "decrypt", p.path(enc.Filename), "--session-key", enc.IVSessionKey, "--checksum", other, "--key", pubFile)
	assert.Equal(t, exitFailure, code)
	assert.Contains(t, errs, "checksum does not match")
	code, _, errs = encRun(t, nil, "decrypt", p.path(enc.Filename), "--session-key", enc.IVSessionKey, "--key", p.path(".capgo_key_v2"))
	assert.Equal(t, exitOK, code, "a private key file also works: %s", errs)

	tree := t.TempDir()
	out = encMust(t, "publish", "--import-zip", p.path(enc.Filename), "--checksum", enc.Checksum, "--session-key", enc.IVSessionKey,
		"--public-key", pubFile, "--store", tree, "--app", encApp, "--version", "1.0.1", "--json")
	assertNoKeyMaterial(t, tree, priv)
	assertNoKeyText(t, "publish output", out, priv)
	rec := encBundle(t, tree, "1.0.1")
	require.Len(t, rec.Keys, 1)
	assert.Equal(t, enc.Checksum, rec.Keys[0].ChecksumV3)
	assert.Empty(t, rec.Keys[0].ChecksumV2)
	assert.Equal(t, enc.IVSessionKey, rec.Keys[0].SessionKey)
	assert.Equal(t, zipped.Checksum, rec.SHA256.String(), "clear sha256 learnt by decrypting")
	assert.Equal(t, manifest.BundleID("1.0.1", manifest.Sum(encRead(t, p.path(enc.Filename)))), rec.ID)
	assert.Equal(t, encRead(t, p.path(enc.Filename)), encRead(t, filepath.Join(tree, rec.Keys[0].Zip.Path)), "stored as it is")
	assertCiphertextOnly(t, tree, rec, p.path("www"))
	out = encMust(t, "decrypt", "--store", tree, "--app", encApp, "--version", "1.0.1", "--key", pubFile)
	assert.Contains(t, out, "Checksum matches (V3)")

	// The same import with only the key id: stored, not checked.
	out = encMust(t, "publish", "--import-zip", p.path(enc.Filename), "--checksum", enc.Checksum, "--session-key", enc.IVSessionKey,
		"--key-id", e2e.KeyID(&priv.PublicKey), "--store", tree, "--app", encApp, "--version", "1.0.2", "--channel", "beta", "--json")
	assert.Contains(t, out, `"key_id":"`+e2e.KeyID(&priv.PublicKey)+`"`)

	// The clear zip of capgo bundle zip, published as it is, clear...
	encMust(t, "publish", "--zip", p.path(zipped.Filename), "--store", tree, "--app", encApp, "--version", "1.0.3", "--channel", "clear")
	rec = encBundle(t, tree, "1.0.3")
	require.NotNil(t, rec.Zip)
	assert.Equal(t, clear, encRead(t, filepath.Join(tree, rec.Zip.Path)))
	assert.Equal(t, zipped.Checksum, rec.SHA256.String())
	assert.Len(t, rec.Files, 6, "delta files from the zip's contents")

	// ...or encrypted.
	tree2 := t.TempDir()
	encMust(t, "publish", "--zip", p.path(zipped.Filename), "--key", p.path(".capgo_key_v2"), "--store", tree2, "--app", encApp, "--version", "1.0.4")
	assertNoKeyMaterial(t, tree2, priv)
	rec = encBundle(t, tree2, "1.0.4")
	assertCiphertextOnly(t, tree2, rec, p.path("www"))
	assert.Equal(t, zipped.Checksum, rec.SHA256.String())
	out = encMust(t, "decrypt", "--store", tree2, "--app", encApp, "--version", "1.0.4", "--key", pubFile, "--out", p.path("four.zip"))
	assert.Contains(t, out, "6 delta files")
	assert.Equal(t, clear, encRead(t, p.path("four.zip")))
}

// TestEncrypt_CapgoKeys proves that keys from `capgo key create` work with
// `publish --encrypt` (given as a file, and as PEM text in the
// CAPSTATIC_KEY_DATA environment variable with JSON-style \n escapes), and
// that `capgo bundle decrypt`, using the project's own public key, opens
// the result.
func TestEncrypt_CapgoKeys(t *testing.T) {
	t.Parallel()
	p := newEncProject(t, "8.51.23", "capgo-keys")
	p.cli = capgoCLI(t)
	p.capgo(t, false, "key", "create")
	priv := encKeys(t, p.path(".capgo_key_v2"))

	tree := t.TempDir()
	encMust(t, "publish", p.path("www"), "--store", tree, "--app", encApp, "--version", "1.0.0", "--key", p.path(".capgo_key_v2"))
	assertNoKeyMaterial(t, tree, priv)
	rec := encBundle(t, tree, "1.0.0")
	k := rec.Keys[0]
	encWrite(t, p.path("ours.zip"), encRead(t, filepath.Join(tree, k.Zip.Path)))
	_, all := p.capgo(t, false, "bundle", "decrypt", "ours.zip", k.SessionKey, "--checksum", k.ChecksumV3)
	assert.Contains(t, all, "Checksum matches")
	assert.Equal(t, encClearZip(t, p.path("www"), "1.0.0"), encRead(t, p.path("ours.zip_decrypted.zip")))

	escaped := strings.ReplaceAll(string(encRead(t, p.path(".capgo_key_v2"))), "\n", `\n`)
	code, out, errs := encRun(t, map[string]string{"CAPSTATIC_KEY_DATA": escaped}, "publish", p.path("www"), "--store", tree,
		"--app", encApp, "--version", "1.0.1", "--channel", "beta")
	require.Equal(t, exitOK, code, "publish with CAPSTATIC_KEY_DATA: %s", errs)
	assertNoKeyText(t, "publish output", out+errs, priv)
	assertNoKeyMaterial(t, tree, priv)
	assert.Equal(t, e2e.KeyID(&priv.PublicKey), encBundle(t, tree, "1.0.1").Keys[0].KeyID)
}

// TestEncrypt_KeyErrors proves that bad keys fail with errors that quote no
// key text, and that the command refuses contradictory flags.
func TestEncrypt_KeyErrors(t *testing.T) {
	t.Parallel()
	p := newEncProject(t, "8.51.23", "errors")
	encMust(t, "keys", "create", "--dir", p.dir)
	priv := encKeys(t, p.path(".capgo_key_v2"))
	pemText := string(encRead(t, p.path(".capgo_key_v2")))
	truncated := pemText[:len(pemText)/2] + "\n-----END RSA PRIVATE KEY-----\n"
	tree := t.TempDir()
	base := []string{"publish", p.path("www"), "--store", tree, "--app", encApp, "--version", "1.0.0"}
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"truncated key data", []string{"--key-data", truncated}, exitFailure, "--key-data: parse private key"},
		{"public key as private", []string{"--key", p.path(".capgo_key_v2.pub")}, exitFailure, "parse private key"},
		{"private key as legacy public", []string{"--legacy-key", p.path(".capgo_key_v2")}, exitFailure, "holds a private key"},
		{"both key flags", []string{"--key", p.path(".capgo_key_v2"), "--key-data", pemText}, exitUsage, "not both"},
		{"missing default key", []string{"--encrypt"}, exitFailure, ".capgo_key_v2"},
		{"import with folder", []string{"--zip", p.path("x.zip")}, exitUsage, "not both"},
	}
	for _, tt := range tests {
		code, out, errs := encRun(t, nil, append(append([]string{}, base...), tt.args...)...)
		assert.Equal(t, tt.code, code, "%s: %s", tt.name, errs)
		assert.Contains(t, errs, tt.want, tt.name)
		assertNoKeyText(t, tt.name, out+errs, priv)
		for _, line := range strings.Split(truncated, "\n") {
			if len(line) > 20 && !strings.HasPrefix(line, "-----") {
				assert.NotContains(t, errs, line, "%s: error quotes key text", tt.name)
			}
		}
	}
	code, _, errs := encRun(t, nil, "publish", "--import-zip", "x.zip", "--checksum", "c", "--store", tree, "--app", encApp, "--version", "1.0.0")
	assert.Equal(t, exitUsage, code, errs)
	code, _, errs = encRun(t, nil, "keys", "create", "--dir", p.dir)
	assert.Equal(t, exitFailure, code, "an existing key is kept without --force")
	assert.Contains(t, errs, "already exists")
	signing := filepath.Join(p.dir, "pointers.key")
	code, _, errs = encRun(t, nil, "keys", "create", "--signing", "--out", signing)
	assert.Equal(t, exitOK, code, "keys create --signing makes the Ed25519 pointer key: %s", errs)
	assert.FileExists(t, signing+".pub")
	encMust(t, "keys", "create", "--force", "--dir", p.dir)
	assert.False(t, encKeys(t, p.path(".capgo_key_v2")).Equal(priv), "--force makes a new key")
}

// TestEncrypt_Defaults runs the commands the way a project uses them, from
// its folder with no key flags: `keys create` writes ./.capgo_key_v2,
// `publish --encrypt` reads it, and `decrypt --store` finds the public key
// in ./.capgo_key_v2.pub. It changes the working folder, so it does not run
// in parallel.
func TestEncrypt_Defaults(t *testing.T) {
	p := newEncProject(t, "8.51.23", "defaults")
	tree := t.TempDir()
	t.Chdir(p.dir)
	encMust(t, "keys", "create")
	priv := encKeys(t, ".capgo_key_v2")
	encMust(t, "publish", "--encrypt", "--store", tree) // app, version and folder from the project
	assertNoKeyMaterial(t, tree, priv)
	rec := encBundle(t, tree, "1.0.0")
	assert.True(t, rec.Encrypted())
	out := encMust(t, "decrypt", "--store", tree, "--version", "1.0.0")
	assert.Contains(t, out, "Checksum matches (V3, V2)")
	require.NoError(t, os.Remove(".capgo_key_v2.pub")) // now from the config's publicKey
	out = encMust(t, "decrypt", "--store", tree, "--version", "1.0.0")
	assert.Contains(t, out, "Checksum matches")
}

// TestEncrypt_Resolver serves an encrypted tree and plays devices: a Gen N
// device sending key_id gets the v2 zip and a manifest of encrypted delta
// files, all of which decrypt, un-brotli and match the V3 hashes; Gen M
// devices sending no key_id get the v2 record the channel names, with V2
// checksums (6.20.0: zip only; 6.28.0: a manifest too); a legacy 10.0.0
// device gets the v1 zip and the CRC32 of the clear zip; a wrong key_id is
// refused.
func TestEncrypt_Resolver(t *testing.T) {
	t.Parallel()
	p := newEncProject(t, "8.51.23", "resolver")
	encMust(t, "keys", "create", "--dir", p.dir)
	encMust(t, "keys", "create", "--legacy", "--dir", p.dir)
	v2, v1 := encKeys(t, p.path(".capgo_key_v2")), encKeys(t, p.path(".capgo_key"))
	id2, id1 := e2e.KeyID(&v2.PublicKey), e2e.KeyID(&v1.PublicKey)
	tree := t.TempDir()
	encMust(t, "publish", p.path("www"), "--store", tree, "--app", encApp, "--version", "1.0.1", "--quiet",
		"--key", p.path(".capgo_key_v2"), "--legacy-key", p.path(".capgo_key.pub"))
	encMust(t, "channel", "set", "production", "--device-key", "v1:"+id1+",v2:"+id2, "--store", tree, "--app", encApp)
	assertNoKeyMaterial(t, tree, v2, v1)
	clear := encClearZip(t, p.path("www"), "1.0.1")
	base := encHTTP(t, tree)

	ask := func(plugin string, extra map[string]any) map[string]json.RawMessage {
		t.Helper()
		body := map[string]any{"app_id": encApp, "device_id": "6f1b2c3d-0000-4000-8000-000000000001", "version_name": "builtin",
			"version_build": "1.0.0", "plugin_version": plugin, "platform": "android", "is_emulator": false, "is_prod": true}
		for k, v := range extra {
			body[k] = v
		}
		b, err := json.Marshal(body)
		require.NoError(t, err)
		resp, err := http.Post(base+"/updates", "application/json", bytes.NewReader(b))
		require.NoError(t, err)
		defer resp.Body.Close()
		raw, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s", raw)
		var ans map[string]json.RawMessage
		require.NoError(t, json.Unmarshal(raw, &ans), "%s", raw)
		return ans
	}
	str := func(ans map[string]json.RawMessage, k string) string {
		var s string
		if raw, ok := ans[k]; ok {
			require.NoError(t, json.Unmarshal(raw, &s), "%s", k)
		}
		return s
	}
	get := func(u string) []byte {
		t.Helper()
		resp, err := http.Get(u)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", u)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return b
	}
	// device does what the plugin does with an answer to a v2 device.
	device := func(name string, ans map[string]json.RawMessage, wantLen int, wantManifest bool) {
		t.Helper()
		require.Empty(t, str(ans, "error"), "%s: %v", name, ans)
		assert.Equal(t, "1.0.1", str(ans, "version"), name)
		checksum := str(ans, "checksum")
		assert.Len(t, checksum, wantLen, "%s: checksum encoding", name)
		key, iv, err := e2e.OpenSessionKey(&v2.PublicKey, str(ans, "session_key"))
		require.NoError(t, err, name)
		zipBytes, err := e2e.Decrypt(key, iv, get(str(ans, "url")))
		require.NoError(t, err, name)
		sum := sha256.Sum256(zipBytes)
		got, err := e2e.UnwrapChecksum(&v2.PublicKey, checksum)
		require.NoError(t, err, name)
		assert.Equal(t, hex.EncodeToString(sum[:]), got, "%s: checksum of the decrypted zip", name)
		assert.Equal(t, clear, zipBytes, name)

		var entries []struct{ FileName, FileHash, DownloadURL string }
		if raw, ok := ans["manifest"]; ok {
			var rows []map[string]string
			require.NoError(t, json.Unmarshal(raw, &rows))
			for _, r := range rows {
				entries = append(entries, struct{ FileName, FileHash, DownloadURL string }{r["file_name"], r["file_hash"], r["download_url"]})
			}
		}
		if !wantManifest {
			assert.Empty(t, entries, "%s: no manifest", name)
			return
		}
		require.Len(t, entries, 6, name)
		brs := 0
		for _, en := range entries {
			data, err := e2e.Decrypt(key, iv, get(en.DownloadURL)) // same key and IV as the zip (§4.3)
			require.NoError(t, err, "%s: %s", name, en.FileName)
			target := en.FileName
			if n, ok := strings.CutSuffix(en.FileName, ".br"); ok {
				data, err = io.ReadAll(brotli.NewReader(bytes.NewReader(data)))
				require.NoError(t, err, "%s: brotli %s", name, en.FileName)
				target, brs = n, brs+1
			}
			assert.Len(t, en.FileHash, wantLen, "%s: %s hash encoding", name, en.FileName)
			want, err := e2e.UnwrapChecksum(&v2.PublicKey, en.FileHash)
			require.NoError(t, err, "%s: %s", name, en.FileName)
			h := sha256.Sum256(data)
			assert.Equal(t, want, hex.EncodeToString(h[:]), "%s: %s hash", name, en.FileName)
			assert.Equal(t, encRead(t, filepath.Join(p.dir, "www", filepath.FromSlash(target))), data, "%s: %s content", name, target)
		}
		assert.GreaterOrEqual(t, brs, 3, "%s: big.js, copy.js and empty.txt go brotli", name)
	}

	device("8.51.23 with key_id", ask("8.51.23", map[string]any{"defaultChannel": "", "key_id": id2}), 512, true)
	device("6.20.0 without key_id", ask("6.20.0", map[string]any{"defaultChannel": ""}), 344, false)
	device("6.28.0 without key_id", ask("6.28.0", map[string]any{"defaultChannel": ""}), 344, true)

	legacy := ask("10.0.0", nil)
	require.Empty(t, str(legacy, "error"), "%v", legacy)
	assert.Equal(t, e2e.CRC32Hex(clear), str(legacy, "checksum"), "v1: plain crc32 of the clear zip")
	assert.NotContains(t, legacy, "manifest")
	key, iv, err := e2e.OpenSessionKeyV1(v1, str(legacy, "session_key"))
	require.NoError(t, err)
	zipBytes, err := e2e.Decrypt(key, iv, get(str(legacy, "url")))
	require.NoError(t, err)
	assert.Equal(t, clear, zipBytes, "legacy device decrypts the v1 zip to the clear zip")

	other := encKey(t)
	refused := ask("8.51.23", map[string]any{"defaultChannel": "", "key_id": e2e.KeyID(&other.PublicKey)})
	assert.Equal(t, "key_id_mismatch", str(refused, "error"))
}
