package e2e_test

import (
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/publish/e2e"
)

// The tests in this file use the real @capgo/cli 8.68.1 (protocol §9) as the
// peer. Things learnt by running it that the protocol document does not say:
//
//   - `bundle zip` looks for "notifyAppReady" only in .js files under webDir
//     (recursively); an index.html containing it is not enough, and it fails
//     with "notifyAppReady() is missing in the build folder (www)." (exit 1).
//   - `key create` ends with a "sync your project with Capacitor now?" prompt;
//     with stdin closed the prompt is cancelled and it still exits 0.
//   - `bundle decrypt` reads the public key from .capgo_key_v2.pub when that
//     file exists, else from the config's publicKey. It writes
//     <encZip>_decrypted.zip BEFORE checking the checksum, so the file exists
//     even when it then exits 1 with "Checksum does not match <sha256> !==
//     <recovered>". A key that does not fit gives "Unable to decrypt
//     ivSessionKey with the configured public key. Verify the ivSessionKey and
//     public key." It has no --json flag.
//   - Both `key create` and `bundle decrypt` ask registry.npmjs.org for the
//     latest CLI version; testdata/capgo/offline.cjs stops that.
//   - The zip is deterministic: the same www gives the same bytes, whatever
//     the bundle version.
//   - The V3/V2 choice follows the updater version found in
//     node_modules/@capgo/capacitor-updater/package.json (8.51.23 ⇒ V3,
//     7.20.0 ⇒ V2), and is printed as "Encrypting checksum with V3 (based on
//     updater version 8.51.23)" / "Decrypting checksum with V2 (based on
//     updater version 7.20.0)".

// capgoPath returns the Capgo CLI: $CAPGO_CLI if set, else
// .cache/capgo/node_modules/.bin/capgo under the module root.
func capgoPath(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("CAPGO_CLI"); p != "" {
		abs, err := filepath.Abs(p)
		require.NoError(t, err)
		_, err = os.Stat(abs)
		require.NoError(t, err, "CAPGO_CLI is set but unusable")
		return abs
	}
	dir, err := os.Getwd()
	require.NoError(t, err)
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's working directory")
		}
		dir = parent
	}
	p := filepath.Join(dir, ".cache", "capgo", "node_modules", ".bin", "capgo")
	if _, err := os.Stat(p); err != nil {
		skipOrFail(t, "Capgo CLI not found: set CAPGO_CLI or run `npm install --prefix .cache/capgo @capgo/cli@8.68.1` at the module root")
	}
	return p
}

// capgoProject is a sample Capacitor project in a temporary folder, with the
// CLI to run in it.
type capgoProject struct {
	peer
	cli string
}

// newCapgoProject writes a minimal project whose installed
// @capgo/capacitor-updater has version updater: the CLI reads that version
// to choose between V3 and V2 checksums.
func newCapgoProject(t *testing.T, updater string) capgoProject {
	t.Helper()
	cli := capgoPath(t)
	preload, err := filepath.Abs(filepath.Join("testdata", "capgo", "offline.cjs"))
	require.NoError(t, err)
	dir, home := t.TempDir(), t.TempDir()
	writeFile(t, dir, "capacitor.config.json", []byte(
		`{"appId":"com.example.app","appName":"x","webDir":"www","plugins":{"CapacitorUpdater":{}}}`))
	writeFile(t, dir, "www/index.html", []byte(
		"<!doctype html><script src=\"app.js\"></script><!-- calls notifyAppReady -->\n"))
	writeFile(t, dir, "www/app.js", []byte("CapacitorUpdater.notifyAppReady();\n"))
	writeFile(t, dir, "package.json", []byte(
		`{"name":"sample","version":"1.0.0","dependencies":{"@capgo/capacitor-updater":"`+updater+`"}}`))
	writeFile(t, dir, "node_modules/@capgo/capacitor-updater/package.json", []byte(
		`{"name":"@capgo/capacitor-updater","version":"`+updater+`"}`))
	return capgoProject{cli: cli, peer: peer{dir: dir, env: []string{
		"HOME=" + home, // no ~/.capgo API key, so no account is touched
		"CAPGO_TOKEN=",
		"CAPGO_DISABLE_TELEMETRY=1",
		"NO_COLOR=1",
		`NODE_OPTIONS=--require "` + preload + `"`,
	}}}
}

// capgo runs the CLI in the project and returns stdout and stdout+stderr.
func (p capgoProject) capgo(t *testing.T, wantErr bool, args ...string) (stdout, all string) {
	t.Helper()
	stdout, stderr := p.run(t, wantErr, p.cli, args...)
	return stdout, stdout + stderr
}

// zip runs `bundle zip` and returns the zip's name and content, checking the
// CLI's checksum against our own SHA-256.
func (p capgoProject) zip(t *testing.T) (name string, data []byte) {
	t.Helper()
	stdout, _ := p.capgo(t, false, "bundle", "zip", "-b", "1.0.1", "--json")
	var out struct{ Bundle, Filename, Checksum string }
	require.NoError(t, json.Unmarshal([]byte(stdout), &out), "bundle zip --json output %q", stdout)
	assert.Equal(t, "com.example.app_1.0.1.zip", out.Filename)
	data = readFile(t, p.dir, out.Filename)
	sum := sha256.Sum256(data)
	assert.Equal(t, hex.EncodeToString(sum[:]), out.Checksum, "bundle zip checksum is the SHA-256 of the file")
	return out.Filename, data
}

// TestCapgo_KeyCreate proves that keys from `capgo key create` parse, that
// our encodings of them are byte-identical to the CLI's files, and that KeyID
// follows the CLI's key_id rule for both the file and the config's copy.
func TestCapgo_KeyCreate(t *testing.T) {
	t.Parallel()
	p := newCapgoProject(t, "8.51.23")
	p.capgo(t, false, "key", "create")

	privPEM := readFile(t, p.dir, ".capgo_key_v2")
	pubPEM := readFile(t, p.dir, ".capgo_key_v2.pub")
	priv, err := e2e.ParsePrivate(privPEM)
	require.NoError(t, err, "ParsePrivate(.capgo_key_v2)")
	pub, err := e2e.ParsePublic(pubPEM)
	require.NoError(t, err, "ParsePublic(.capgo_key_v2.pub)")
	assert.True(t, priv.PublicKey.Equal(pub), "the two files are one key pair")
	assert.Equal(t, string(privPEM), string(e2e.EncodePrivate(priv)), "EncodePrivate == .capgo_key_v2")
	assert.Equal(t, string(pubPEM), string(e2e.EncodePublic(pub)), "EncodePublic == .capgo_key_v2.pub")

	var config struct {
		Plugins struct{ CapacitorUpdater struct{ PublicKey string } }
	}
	require.NoError(t, json.Unmarshal(readFile(t, p.dir, "capacitor.config.json"), &config))
	inConfig := config.Plugins.CapacitorUpdater.PublicKey
	assert.Equal(t, string(pubPEM), inConfig, "config publicKey is the .pub file")

	// The CLI's key_id (and the plugin's calcKeyId): drop the PKCS#1 markers
	// and all newlines and spaces, keep 20 characters.
	cliID := strings.NewReplacer("-----BEGIN RSA PUBLIC KEY-----", "", "-----END RSA PUBLIC KEY-----", "",
		"\n", "", "\r", "", " ", "").Replace(inConfig)[:20]
	assert.Equal(t, cliID, e2e.KeyID(pub))
}

// TestCapgo_BundleEncrypt proves that we open what `capgo bundle encrypt`
// makes: the session key gives the AES key and IV, the ciphertext decrypts to
// the original zip, and the checksum unwraps to its SHA-256, in the V3 and
// the V2 encoding. Since type-1 wrapping is deterministic, our Wrap functions
// must also give the CLI's checksum exactly.
func TestCapgo_BundleEncrypt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, updater string
		wrap          func(*rsa.PrivateKey, string) (string, error)
		checksumLen   int
	}{
		{"V3", "8.51.23", e2e.WrapChecksumV3, 512},
		{"V2", "7.20.0", e2e.WrapChecksumV2, 344},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newCapgoProject(t, tt.updater)
			p.capgo(t, false, "key", "create")
			zipName, zip := p.zip(t)
			sum := sha256.Sum256(zip)
			hexSum := hex.EncodeToString(sum[:])

			stdout, _ := p.capgo(t, false, "bundle", "encrypt", zipName, hexSum, "--json")
			var out struct{ Checksum, Filename, IVSessionKey string }
			require.NoError(t, json.Unmarshal([]byte(stdout), &out), "bundle encrypt --json output %q", stdout)
			assert.Equal(t, zipName+"_encrypted.zip", out.Filename)
			assert.Len(t, out.Checksum, tt.checksumLen)

			priv, err := e2e.ParsePrivate(readFile(t, p.dir, ".capgo_key_v2"))
			require.NoError(t, err)
			pub, err := e2e.ParsePublic(readFile(t, p.dir, ".capgo_key_v2.pub"))
			require.NoError(t, err)
			key, iv, err := e2e.OpenSessionKey(pub, out.IVSessionKey)
			require.NoError(t, err, "OpenSessionKey(CLI ivSessionKey)")
			plain, err := e2e.Decrypt(key, iv, readFile(t, p.dir, out.Filename))
			require.NoError(t, err, "Decrypt(CLI encrypted zip)")
			assert.Equal(t, zip, plain, "decrypted zip")

			got, err := e2e.UnwrapChecksum(pub, out.Checksum)
			require.NoError(t, err, "UnwrapChecksum(CLI checksum)")
			assert.Equal(t, hexSum, got)
			ours, err := tt.wrap(priv, hexSum)
			require.NoError(t, err)
			assert.Equal(t, out.Checksum, ours, "our wrapped checksum == the CLI's")
		})
	}
}

// TestCapgo_BundleDecrypt proves that `capgo bundle decrypt`, using our
// public key file, opens our session key, decrypts our ciphertext to the
// original zip and accepts our V3 and V2 checksums, and that it refuses a
// wrong checksum and a session key sealed with another key.
func TestCapgo_BundleDecrypt(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, updater string
		wrap          func(*rsa.PrivateKey, string) (string, error)
	}{
		{"V3", "8.51.23", e2e.WrapChecksumV3},
		{"V2", "7.20.0", e2e.WrapChecksumV2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := newCapgoProject(t, tt.updater)
			priv, other := newKey(t), newKey(t)
			writeFile(t, p.dir, ".capgo_key_v2.pub", e2e.EncodePublic(&priv.PublicKey))
			_, zip := p.zip(t)
			sum := sha256.Sum256(zip)

			s, err := e2e.SealV2(priv, nil)
			require.NoError(t, err)
			writeFile(t, p.dir, "enc.zip", s.Encrypt(zip))
			checksum, err := tt.wrap(priv, hex.EncodeToString(sum[:]))
			require.NoError(t, err)

			_, all := p.capgo(t, false, "bundle", "decrypt", "enc.zip", s.SessionKey(), "--checksum", checksum)
			assert.Contains(t, all, "Decrypting checksum with "+tt.name+" (based on updater version "+tt.updater+")")
			assert.Contains(t, all, "Checksum matches")
			assert.Equal(t, zip, readFile(t, p.dir, "enc.zip_decrypted.zip"), "CLI-decrypted zip")

			otherSum := sha256.Sum256([]byte("another zip"))
			wrong, err := tt.wrap(priv, hex.EncodeToString(otherSum[:]))
			require.NoError(t, err)
			_, all = p.capgo(t, true, "bundle", "decrypt", "enc.zip", s.SessionKey(), "--checksum", wrong)
			assert.Contains(t, all, "Checksum does not match")

			foreign, err := e2e.SealV2(other, nil)
			require.NoError(t, err)
			_, all = p.capgo(t, true, "bundle", "decrypt", "enc.zip", foreign.SessionKey())
			assert.Contains(t, all, "Unable to decrypt ivSessionKey with the configured public key")
		})
	}
}
