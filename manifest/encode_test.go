package manifest_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
)

const encApp = "com.example.enc"

// encFile is a clear delta entry as the publisher makes it: object at the
// derivable path, with the digest of its bytes (which records drop).
func encFile(name string, size, objSize int64, br bool) manifest.File {
	d := manifest.Sum([]byte(name))
	return manifest.File{Name: name, SHA256: d, Size: size, Brotli: br,
		Object: manifest.Object{Path: manifest.FilePath(encApp, d, br), Size: objSize,
			SHA256: manifest.Sum([]byte("object of " + name))}}
}

// recorded is f as a record gives it back: clear delta objects are checked
// by content, so the digest of a compact entry's object is not kept.
func recorded(files []manifest.File) []manifest.File {
	out := make([]manifest.File, len(files))
	for i, f := range files {
		if f.Object.Path == manifest.FilePath(encApp, f.SHA256, f.Brotli) && (f.Brotli || f.Object.Size == f.Size) {
			f.Object.SHA256 = manifest.Digest{}
		}
		out[i] = f
	}
	return out
}

func encBundle(version string, files []manifest.File) *manifest.Bundle {
	zip := manifest.Sum([]byte("zip " + version))
	id := manifest.BundleID(version, zip)
	return &manifest.Bundle{ID: id, Version: version,
		Created: time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC),
		Size:    123456, SHA256: zip, CRC32: "0badf00d",
		Zip:   &manifest.Object{Path: manifest.ZipPath(encApp, id), Size: 123456, SHA256: zip},
		Files: files, Link: "https://example.com/<a&b>", Comment: "line\nbreak \"quoted\" \u2028"}
}

func encState(bundles ...*manifest.Bundle) *manifest.State {
	st := manifest.NewState(encApp)
	st.Seq = 7
	st.Updated = time.Date(2026, 3, 4, 5, 6, 8, 0, time.UTC)
	st.Bundles = map[string]*manifest.Bundle{}
	st.Versions = map[string]manifest.Digest{}
	for i, b := range bundles {
		st.Bundles[b.ID.String()] = b
		st.Versions[b.Version] = b.ID
		st.Channels[fmt.Sprintf("ch%d", i)] = &manifest.Channel{ID: int64(i + 1),
			Settings: manifest.DefaultSettings(), Target: b.ID.String()}
	}
	st.NextChannelID = int64(len(bundles) + 1)
	return st
}

func TestEncode_RoundTrip(t *testing.T) {
	t.Parallel()
	other := encFile("moved.js", 10, 10, false)
	other.Object.Path = encApp + "/elsewhere/moved.js" // not derivable: long form
	odd := encFile("odd.txt", 10, 9, false)            // raw object of another size: long form
	files := []manifest.File{
		encFile("index.html", 7204, 1466, true),
		encFile("assets/index-B2x9QfZk.js", 183_211, 51_002, true),
		encFile("favicon.ico", 1150, 1150, false),
		encFile("empty.txt", 0, 0, false),
		encFile("weird \"name\"\t <&> \u2028 é.js", 5, 9, true),
		other, odd,
	}
	enc := encBundle("1.2.3", files)
	d := manifest.Sum([]byte("clear"))
	enc.Keys = []manifest.Encryption{{Scheme: manifest.SchemeV2, KeyID: "MIIBCgKCAQEAxxxxxxxx",
		Zip:        manifest.Object{Path: manifest.EncryptedZipPath(encApp, enc.ID, d), Size: 99, SHA256: d},
		SessionKey: "aXY=:a2V5", ChecksumV3: strings.Repeat("ab", 256), ChecksumV2: "Y2hlY2tzdW0=",
		Files: []manifest.EncryptedFile{{Name: "index.html", Size: 7204, Brotli: true, HashV3: strings.Repeat("cd", 256),
			HashV2: "aGFzaA==", Object: manifest.Object{Path: manifest.EncryptedFilePath(encApp, enc.ID, d), Size: 1480, SHA256: d}}}}}
	want := *enc
	want.Files = recorded(files)

	t.Run("File", func(t *testing.T) {
		for i, f := range files {
			raw, err := json.Marshal(f)
			require.NoError(t, err)
			var got manifest.File
			require.NoError(t, json.Unmarshal(raw, &got), "%s", raw)
			if got.Object.Path == "" {
				assert.Equal(t, byte('['), raw[0], "compact form %s", raw)
				got.Object.Path = manifest.FilePath(encApp, got.SHA256, got.Brotli)
			} else {
				assert.Equal(t, byte('{'), raw[0], "long form %s", raw)
			}
			assert.Equal(t, want.Files[i], got, "%s", raw)
		}
	})
	t.Run("Bundle", func(t *testing.T) {
		raw, err := manifest.EncodeBundle(enc)
		require.NoError(t, err)
		got, err := manifest.DecodeBundle(encApp, raw)
		require.NoError(t, err, "%s", raw)
		assert.Equal(t, &want, got)
		again, err := manifest.EncodeBundle(got)
		require.NoError(t, err)
		assert.Equal(t, string(raw), string(again), "encoding is stable")
	})
	t.Run("State", func(t *testing.T) {
		second := encBundle("1.2.4", []manifest.File{encFile("index.html", 7300, 1500, true)})
		st := encState(enc, second)
		raw, err := manifest.EncodeState(st)
		require.NoError(t, err)
		got, err := manifest.DecodeState(raw)
		require.NoError(t, err, "%s", raw)
		wantSecond := *second
		wantSecond.Files = recorded(second.Files)
		st.Bundles = map[string]*manifest.Bundle{enc.ID.String(): &want, second.ID.String(): &wantSecond}
		assert.Equal(t, st, got)
		assert.Equal(t, st, got.Clone())
	})
	t.Run("OtherApp", func(t *testing.T) {
		// Paths are restored with the app the record is read for; read
		// for another app, a record still fails validation through its
		// zip path, and an invalid app id restores nothing.
		raw, err := manifest.EncodeBundle(encBundle("1.0.0", files[:1]))
		require.NoError(t, err)
		_, err = manifest.DecodeBundle("com.example.other", raw)
		require.Error(t, err, "the zip path is still the first app's")
		_, err = manifest.DecodeBundle("not an app", raw)
		require.Error(t, err)
	})
}

func TestFile_UnmarshalJSON_Errors(t *testing.T) {
	t.Parallel()
	digest := `"` + strings.Repeat("A", 43) + `"`
	for _, in := range []string{
		`"x"`, `[]`, `["a.js"]`, `["a.js",` + digest + `]`, `["a.js",` + digest + `,1,2,3]`,
		`["a.js","` + strings.Repeat("a", 64) + `",1]`,  // hex, not base64url
		`["a.js","` + strings.Repeat("A", 42) + `B",1]`, // non-zero padding bits
		`["a.js",` + digest + `,-1]`, `["a.js",` + digest + `,1,-1]`, `["a.js",` + digest + `,"1"]`,
		`[1,` + digest + `,1]`, `["a.js",` + digest + `,1.5]`,
	} {
		var f manifest.File
		assert.Error(t, json.Unmarshal([]byte(in), &f), "%s", in)
	}
	var f manifest.File
	require.NoError(t, json.Unmarshal([]byte(`["a.js",`+digest+`,1]`), &f))
	assert.Equal(t, manifest.File{Name: "a.js", Size: 1, Object: manifest.Object{Size: 1}}, f)
}

// TestEncode_SizePerFile bounds what a file costs the metadata an
// incremental publish writes: its entry in the bundle record plus its entry
// in the state. bench/delta allows 200 bytes per file (plus 64 KiB).
func TestEncode_SizePerFile(t *testing.T) {
	t.Parallel()
	const n = 100
	// Names shaped like a Vite or Nuxt build, averaging about 28 bytes
	// (the @nuxt/devtools client averages 28).
	dirs := []string{"_nuxt/", "assets/", "assets/vendor/", "_nuxt/builds/meta/"}
	stems := []string{"index", "chunk", "DefaultLayout", "vendor-monaco", "composables", "x"}
	files := make([]manifest.File, n)
	nameBytes := 0
	for i := range files {
		name := fmt.Sprintf("%s%s-%s.js", dirs[i%len(dirs)], stems[i%len(stems)],
			manifest.Sum([]byte{byte(i)}).String()[:8])
		nameBytes += len(name)
		size := int64(1000 + 997*i*i%400_000)
		if i%10 == 0 { // a tenth stored raw, as images are
			files[i] = encFile(name, size, size, false)
		} else {
			files[i] = encFile(name, size, size/3, true)
		}
	}
	empty := encBundle("1.0.0", nil)
	full := encBundle("1.0.0", files)
	size := func(b *manifest.Bundle) int {
		rec, err := manifest.EncodeBundle(b)
		require.NoError(t, err)
		st, err := manifest.EncodeState(encState(b))
		require.NoError(t, err)
		return len(rec) + len(st)
	}
	perFile := float64(size(full)-size(empty)) / n
	t.Logf("%.1f bytes per file (record + state), names average %.1f bytes", perFile, float64(nameBytes)/n)
	assert.Less(t, perFile, 200.0)
	// Beyond its name, twice, a file costs under 70 bytes per copy.
	assert.Less(t, perFile-2*float64(nameBytes)/n, 140.0)
}

// TestFile_NameEscaping checks the compact form's string writer against
// encoding/json on names no valid record holds.
func TestFile_NameEscaping(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"a\\b", "q\"", "ctl\x00\x01\x1f\x7f", "bad utf8 \xff\xfe x", "\u2028\u2029", "<&>", "é/ü/日本.js", ""} {
		f := encFile(name, 3, 2, true)
		raw, err := json.Marshal(f)
		require.NoError(t, err)
		want, err := json.Marshal(name)
		require.NoError(t, err)
		var got []json.RawMessage
		require.NoError(t, json.Unmarshal(raw, &got), "%q: %s", name, raw)
		var a, b string
		require.NoError(t, json.Unmarshal(got[0], &a))
		require.NoError(t, json.Unmarshal(want, &b))
		assert.Equal(t, b, a, "name %q decodes as encoding/json's", name)
	}
}

// BenchmarkDecodeState decodes a state holding two bundles of 1000 files,
// what a resolver does on every reload.
func BenchmarkDecodeState(b *testing.B) {
	mk := func(v string) *manifest.Bundle {
		files := make([]manifest.File, 1000)
		for i := range files {
			files[i] = encFile(fmt.Sprintf("assets/chunk-%s.js", manifest.Sum([]byte(v + fmt.Sprint(i))).String()[:8]), int64(1000+i), int64(300+i), true)
		}
		return encBundle(v, files)
	}
	raw, err := manifest.EncodeState(encState(mk("1.0.0"), mk("1.0.1")))
	require.NoError(b, err)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := manifest.DecodeState(raw); err != nil {
			b.Fatal(err)
		}
	}
}
