package publish_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/delta"
	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/e2e"
	"github.com/capstatic/capstatic/publish/publishtest"
)

const encApp = "com.example.enc"

// testKeys are generated once: RSA-2048 generation is slow and the tests
// only read them.
var testKeys = sync.OnceValues(func() ([3]*rsa.PrivateKey, error) {
	var ks [3]*rsa.PrivateKey
	for i := range ks {
		k, err := e2e.GenerateKey()
		if err != nil {
			return ks, err
		}
		ks[i] = k
	}
	return ks, nil
})

func keys(t *testing.T) [3]*rsa.PrivateKey {
	t.Helper()
	ks, err := testKeys()
	require.NoError(t, err)
	return ks
}

// encBuild is a small web build: a compressible script (sent brotli), a
// tiny file (sent raw), an empty file (always brotli) and a duplicate.
func encBuild(marker string) fstest.MapFS {
	big := strings.Repeat("console.log('"+marker+" compressible line');\n", 600)
	return fstest.MapFS{
		"index.html":        {Data: []byte("<!doctype html><script src=app.js></script>" + marker)},
		"app.js":            {Data: []byte(big)},
		"assets/copy.js":    {Data: []byte(big)},
		"assets/tiny.css":   {Data: []byte("p{}")},
		"assets/empty.txt":  {Data: nil},
		"assets/logo.svg":   {Data: []byte("<svg>" + marker + "</svg>")},
		"assets/data.json":  {Data: []byte(`{"marker":"` + marker + `"}`)},
		"assets/nested/x.y": {Data: []byte("nested " + marker)},
	}
}

// storeKeys lists every key of a memory store.
func storeKeys(t *testing.T, m *publishtest.Memory) []string {
	t.Helper()
	var ks []string
	require.NoError(t, m.List(context.Background(), "", func(k string, _ publish.Info) error {
		ks = append(ks, k)
		return nil
	}))
	return ks
}

func storeRead(t *testing.T, m *publishtest.Memory, key string) []byte {
	t.Helper()
	r, err := m.Open(context.Background(), key)
	require.NoError(t, err, "open %s", key)
	defer r.Close()
	b, err := io.ReadAll(r)
	require.NoError(t, err)
	return b
}

// TestPublish_Encrypted proves that an encrypted release stores no clear
// zip, no clear delta object and no clear content; that each record opens
// as a device would (v2 with the public key, v1 with the private key) to
// the exact zip a clear publish of the same build makes; and that every v2
// delta file decrypts, un-brotlis and matches its wrapped hashes.
func TestPublish_Encrypted(t *testing.T) {
	t.Parallel()
	ks := keys(t)
	ctx := context.Background()
	build := encBuild("m1")
	store := publishtest.NewMemory()
	p := &publish.Publisher{Store: store}
	rel := publish.Release{App: encApp, Version: "1.0.0", Channel: "production", Build: build,
		Keys: []publish.Key{{Scheme: manifest.SchemeV2, Private: ks[0]}, {Scheme: manifest.SchemeV1, Public: &ks[1].PublicKey}}}
	res, err := p.Publish(ctx, rel)
	require.NoError(t, err)
	rec := res.Bundle
	assert.True(t, rec.Encrypted())
	assert.Empty(t, rec.Files)
	require.Len(t, rec.Keys, 2)

	clear := publishtest.NewMemory()
	cres, err := (&publish.Publisher{Store: clear}).Publish(ctx, publish.Release{App: encApp, Version: "1.0.0", Channel: "production", Build: build})
	require.NoError(t, err)
	clearZip := storeRead(t, clear, cres.Bundle.Zip.Path)
	assert.Equal(t, cres.Bundle.SHA256, rec.SHA256, "the record keeps the clear zip's sha256")
	assert.Equal(t, cres.Bundle.CRC32, rec.CRC32)
	assert.Equal(t, cres.Bundle.Size, rec.Size)

	for _, k := range storeKeys(t, store) {
		assert.False(t, strings.HasSuffix(k, "/bundle.zip"), "clear zip %s", k)
		if rest, ok := strings.CutPrefix(k, encApp+"/files/"); ok {
			assert.True(t, strings.HasPrefix(rest, rec.ID.String()+"/"), "delta object %s outside the bundle's folder", k)
		}
		b := storeRead(t, store, k)
		assert.NotContains(t, string(b), "compressible line", "clear content in %s", k)
		assert.False(t, bytes.HasPrefix(b, []byte("PK\x03\x04")), "a zip at %s", k)
	}

	v2 := rec.Key(manifest.SchemeV2, e2e.KeyID(&ks[0].PublicKey))
	require.NotNil(t, v2)
	assert.Equal(t, manifest.EncryptedZipPath(encApp, rec.ID, manifest.Sum(x509.MarshalPKCS1PublicKey(&ks[0].PublicKey))), v2.Zip.Path)
	opened, err := publish.OpenEncrypted(ctx, store, rec, v2, publish.OpenKeys{V2: &ks[0].PublicKey})
	require.NoError(t, err, "OpenEncrypted(v2)")
	assert.Equal(t, clearZip, opened.Zip, "v2 zip decrypts to the clear zip")
	assert.True(t, opened.ChecksumV3 && opened.ChecksumV2)
	assert.Equal(t, len(build), opened.Files, "every file has an encrypted delta entry")
	for _, f := range v2.Files {
		assert.Len(t, f.HashV3, 512)
		assert.Len(t, f.HashV2, 344)
	}
	brotli := map[string]bool{}
	for _, f := range v2.Files {
		brotli[f.Name] = f.Brotli
	}
	assert.True(t, brotli["app.js"] && brotli["assets/copy.js"] && brotli["assets/empty.txt"], "compressible and empty files go brotli: %v", brotli)
	assert.False(t, brotli["assets/tiny.css"], "a 3-byte file stays raw")

	v1 := rec.Key(manifest.SchemeV1, e2e.KeyID(&ks[1].PublicKey))
	require.NotNil(t, v1)
	assert.Empty(t, v1.Files, "legacy plugins take no manifest")
	assert.Empty(t, v1.ChecksumV3+v1.ChecksumV2, "v1 checksum is the plain crc32")
	opened, err = publish.OpenEncrypted(ctx, store, rec, v1, publish.OpenKeys{V1: ks[1]})
	require.NoError(t, err, "OpenEncrypted(v1)")
	assert.Equal(t, clearZip, opened.Zip, "v1 zip decrypts to the clear zip")

	_, err = publish.OpenEncrypted(ctx, store, rec, v2, publish.OpenKeys{V2: &ks[2].PublicKey})
	assert.ErrorIs(t, err, e2e.ErrDecryption, "another public key")
}

// TestPublish_EncryptedAgain proves the version rules of encrypted
// releases: the same build and keys again is Unchanged; other keys, a
// clear publish or other content under the same version is
// ErrVersionExists; every new bundle has a fresh session key and objects
// of its own.
func TestPublish_EncryptedAgain(t *testing.T) {
	t.Parallel()
	ks := keys(t)
	ctx := context.Background()
	store := publishtest.NewMemory()
	p := &publish.Publisher{Store: store}
	v2 := []publish.Key{{Scheme: manifest.SchemeV2, Private: ks[0]}}
	rel := publish.Release{App: encApp, Version: "1.0.0", Channel: "production", Build: encBuild("a"), Keys: v2}
	first, err := p.Publish(ctx, rel)
	require.NoError(t, err)
	again, err := p.Publish(ctx, rel)
	require.NoError(t, err)
	assert.True(t, again.Unchanged)
	assert.Equal(t, first.Bundle.ID, again.Bundle.ID)
	assert.Equal(t, first.Seq, again.Seq, "nothing to flip")

	for name, r := range map[string]publish.Release{
		"other key":     {App: encApp, Version: "1.0.0", Channel: "production", Build: encBuild("a"), Keys: []publish.Key{{Scheme: manifest.SchemeV2, Private: ks[1]}}},
		"more keys":     {App: encApp, Version: "1.0.0", Channel: "production", Build: encBuild("a"), Keys: append(v2, publish.Key{Scheme: manifest.SchemeV1, Public: &ks[1].PublicKey})},
		"clear":         {App: encApp, Version: "1.0.0", Channel: "production", Build: encBuild("a")},
		"other content": {App: encApp, Version: "1.0.0", Channel: "production", Build: encBuild("b"), Keys: v2},
	} {
		_, err := p.Publish(ctx, r)
		assert.ErrorIs(t, err, publish.ErrVersionExists, name)
	}

	rel.Version, rel.Build = "1.0.1", encBuild("a") // same content, new version
	second, err := p.Publish(ctx, rel)
	require.NoError(t, err)
	a, b := first.Bundle.Keys[0], second.Bundle.Keys[0]
	assert.NotEqual(t, a.SessionKey, b.SessionKey, "fresh AES key and IV per bundle")
	assert.Equal(t, a.ChecksumV3, b.ChecksumV3, "same clear zip, deterministic wrapping")
	for i := range a.Files {
		assert.NotEqual(t, a.Files[i].Object.Path, b.Files[i].Object.Path, "no cross-version sharing of %s", a.Files[i].Name)
	}

	_, err = p.Publish(ctx, publish.Release{App: encApp, Version: "1.0.2", Build: encBuild("c"), Keys: append(v2, v2[0])})
	assert.ErrorContains(t, err, "listed twice")
	_, err = p.Publish(ctx, publish.Release{App: encApp, Version: "1.0.2", Build: encBuild("c"), Keys: []publish.Key{{Scheme: "v3", Private: ks[0]}}})
	assert.ErrorContains(t, err, "unknown scheme")
}

// zipOf writes files (name → content, "name/" for a folder) as a zip.
func zipOf(t *testing.T, files map[string]string, order ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, name := range order {
		w, err := zw.Create(name)
		require.NoError(t, err)
		if !strings.HasSuffix(name, "/") {
			_, err = w.Write([]byte(files[name]))
			require.NoError(t, err)
		}
	}
	require.NoError(t, zw.Close())
	return buf.Bytes()
}

func writeTemp(t *testing.T, name string, b []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(p, b, 0o600))
	return p
}

// TestImportZip proves that a clear zip is published byte for byte, with
// delta files named after the plugin's flattening of a single top folder,
// and that a zip iOS and Android would install differently is refused.
func TestImportZip(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	files := map[string]string{"www/index.html": "<p>hi</p>", "www/assets/app.js": strings.Repeat("x = 1;\n", 3000)}
	raw := zipOf(t, files, "www/", "www/assets/", "www/assets/app.js", "www/index.html")
	store := publishtest.NewMemory()
	p := &publish.Publisher{Store: store}
	res, err := p.ImportZip(ctx, publish.Release{App: encApp, Version: "2.0.0", Channel: "production"}, writeTemp(t, "b.zip", raw))
	require.NoError(t, err)
	sum := sha256.Sum256(raw)
	assert.Equal(t, hex.EncodeToString(sum[:]), res.Bundle.SHA256.String(), "sha256 of the given zip (the CLI's checksum)")
	assert.Equal(t, raw, storeRead(t, store, res.Bundle.Zip.Path), "zip stored as given")
	var names []string
	for _, f := range res.Bundle.Files {
		names = append(names, f.WireName())
	}
	assert.Equal(t, []string{"assets/app.js.br", "index.html"}, names)

	again, err := p.ImportZip(ctx, publish.Release{App: encApp, Version: "2.0.0", Channel: "production"}, writeTemp(t, "b.zip", raw))
	require.NoError(t, err)
	assert.True(t, again.Unchanged)

	mac := zipOf(t, map[string]string{"app/index.html": "x", "__MACOSX/app/._index.html": "y"}, "app/index.html", "__MACOSX/app/._index.html")
	_, err = p.ImportZip(ctx, publish.Release{App: encApp, Version: "2.0.1"}, writeTemp(t, "m.zip", mac))
	assert.ErrorIs(t, err, delta.ErrNoIndex, "app/ + __MACOSX/ installs on Android only")
}

// TestImportEncrypted proves that a `capgo bundle encrypt`-shaped zip is
// stored as given with its checksum in the encoding it came in, checked
// against the public key when one is given, and opens like our own.
func TestImportEncrypted(t *testing.T) {
	t.Parallel()
	ks := keys(t)
	ctx := context.Background()
	clearZip := zipOf(t, map[string]string{"index.html": "<p>imported</p>"}, "index.html")
	sum := sha256.Sum256(clearZip)
	s, err := e2e.SealV2(ks[0], nil)
	require.NoError(t, err)
	enc := s.Encrypt(clearZip)
	path := writeTemp(t, "x.zip_encrypted.zip", enc)
	v3, err := e2e.WrapChecksumV3(ks[0], hex.EncodeToString(sum[:]))
	require.NoError(t, err)
	v2, err := e2e.WrapChecksumV2(ks[0], hex.EncodeToString(sum[:]))
	require.NoError(t, err)
	pub := &ks[0].PublicKey

	store := publishtest.NewMemory()
	p := &publish.Publisher{Store: store}
	rel := publish.Release{App: encApp, Version: "3.0.0", Channel: "production"}
	res, err := p.ImportEncrypted(ctx, rel, publish.EncryptedZip{Path: path, Checksum: v3, SessionKey: s.SessionKey(), Public: pub})
	require.NoError(t, err)
	rec := res.Bundle
	assert.Equal(t, manifest.BundleID("3.0.0", manifest.Sum(enc)), rec.ID)
	assert.Equal(t, hex.EncodeToString(sum[:]), rec.SHA256.String(), "clear sha256 learnt by decrypting")
	require.Len(t, rec.Keys, 1)
	k := rec.Keys[0]
	assert.Equal(t, e2e.KeyID(pub), k.KeyID)
	assert.Equal(t, v3, k.ChecksumV3)
	assert.Empty(t, k.ChecksumV2, "only the encoding given")
	assert.Equal(t, enc, storeRead(t, store, k.Zip.Path), "stored as given")
	opened, err := publish.OpenEncrypted(ctx, store, rec, &k, publish.OpenKeys{V2: pub})
	require.NoError(t, err)
	assert.Equal(t, clearZip, opened.Zip)

	res, err = p.ImportEncrypted(ctx, rel, publish.EncryptedZip{Path: path, Checksum: v3, SessionKey: s.SessionKey(), Public: pub})
	require.NoError(t, err)
	assert.True(t, res.Unchanged)

	// Key id only: nothing can be checked, the clear digest stays unknown.
	rel.Version = "3.0.1"
	res, err = p.ImportEncrypted(ctx, rel, publish.EncryptedZip{Path: path, Checksum: v2, SessionKey: s.SessionKey(), KeyID: e2e.KeyID(pub)})
	require.NoError(t, err)
	assert.True(t, res.Bundle.SHA256.IsZero())
	assert.Equal(t, v2, res.Bundle.Keys[0].ChecksumV2)
	assert.Empty(t, res.Bundle.Keys[0].ChecksumV3)

	other := sha256.Sum256([]byte("other"))
	wrong, err := e2e.WrapChecksumV3(ks[0], hex.EncodeToString(other[:]))
	require.NoError(t, err)
	tests := []struct {
		name string
		in   publish.EncryptedZip
		want string
		is   error
	}{
		{"wrong checksum", publish.EncryptedZip{Path: path, Checksum: wrong, SessionKey: s.SessionKey(), Public: pub}, "", publish.ErrChecksum},
		{"other key", publish.EncryptedZip{Path: path, Checksum: v3, SessionKey: s.SessionKey(), Public: &ks[1].PublicKey}, "", e2e.ErrDecryption},
		{"plain sha256", publish.EncryptedZip{Path: path, Checksum: hex.EncodeToString(sum[:]), SessionKey: s.SessionKey(), Public: pub}, "neither V3", nil},
		{"bad session key", publish.EncryptedZip{Path: path, Checksum: v3, SessionKey: "abc:def", Public: pub}, "session key is not", nil},
		{"key id mismatch", publish.EncryptedZip{Path: path, Checksum: v3, SessionKey: s.SessionKey(), Public: pub, KeyID: e2e.KeyID(&ks[1].PublicKey)}, "is not that of the public key", nil},
		{"no key id", publish.EncryptedZip{Path: path, Checksum: v3, SessionKey: s.SessionKey()}, "give the key id", nil},
	}
	for _, tt := range tests {
		rel.Version = "3.0.2"
		_, err := p.ImportEncrypted(ctx, rel, tt.in)
		require.Error(t, err, tt.name)
		if tt.is != nil {
			assert.True(t, errors.Is(err, tt.is), "%s: %v", tt.name, err)
		}
		assert.Contains(t, err.Error(), tt.want, tt.name)
		assert.NotContains(t, err.Error(), s.SessionKey(), "%s: error quotes the session key", tt.name)
	}
}
