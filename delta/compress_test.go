package delta_test

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/delta"
	"github.com/capstatic/capstatic/manifest"
)

// encodeInputs are contents whose streams are decoded by both decoders:
// sizes around the plugin's 1537-byte shortcut header, and text and noise.
func encodeInputs() map[string][]byte {
	rng := newRand(7)
	in := map[string][]byte{
		"empty":    nil,
		"byte":     {'x'},
		"hello":    []byte("hello"),
		"js-1536":  jsText(rng, 1536)[:1536],
		"js-1537":  jsText(rng, 1537)[:1537],
		"js-16KiB": jsText(rng, 16<<10),
		"rnd-5":    randomBytes(rng, 5),
		"rnd-1537": randomBytes(rng, 1537),
		"rnd-70K":  randomBytes(rng, 70_000), // more than the 2^16 window
	}
	return in
}

func TestEncode_Decoders(t *testing.T) {
	bin := debianBrotli(t)
	for name, data := range encodeInputs() {
		for _, level := range []int{0, 1, 5, 11} {
			t.Run(name+"/q"+strconv.Itoa(level), func(t *testing.T) {
				t.Parallel()
				obj := delta.Encode(data, level)
				assert.Equal(t, len(data), len(goDecode(t, obj)), "andybalholm/brotli length")
				assert.True(t, bytes.Equal(data, goDecode(t, obj)), "andybalholm/brotli round trip")
				got, err := refDecode(bin, obj)
				require.NoError(t, err, "brotli -d")
				assert.True(t, bytes.Equal(data, got), "brotli -d round trip")
				assert.False(t, takesShortcut(obj), "stream % x… would take the plugin's shortcut", obj[:min(len(obj), 4)])
				assert.Equal(t, obj, delta.Encode(data, level), "Encode is deterministic")
			})
		}
	}
}

// TestEncode_Window checks the first byte of streams whose natural window
// would be 2^22 (files of 2–4 MiB): the plugin's shortcut needs a first
// byte 0B or 1B, which only that window produces.
func TestEncode_Window(t *testing.T) {
	js := jsText(newRand(3), 64<<10)
	for _, n := range []int{1 << 20, 3 << 20} {
		data := bytes.Repeat(js, n/len(js))
		obj := delta.Encode(data, 1)
		assert.NotEqual(t, byte(0x0b), obj[0]&0x0f, "first byte %#x for %d bytes", obj[0], n)
		assert.True(t, bytes.Equal(data, goDecode(t, obj)), "round trip of %d bytes", n)
	}
}

func TestEmptyStream(t *testing.T) {
	bin := debianBrotli(t)
	for _, level := range []int{2, 5, 9, 11} {
		assert.Equal(t, delta.EmptyStream(), delta.Encode(nil, level), "Encode(nil, %d)", level)
	}
	got, err := refDecode(bin, delta.EmptyStream())
	require.NoError(t, err, "brotli -d of EmptyStream")
	assert.Empty(t, got)
	assert.Empty(t, goDecode(t, delta.EmptyStream()))

	// The plugin's own "empty" marker is not brotli: why EmptyStream differs.
	_, err = refDecode(bin, []byte{0x1b, 0x00, 0x06})
	assert.Error(t, err, "brotli -d accepted 1B 00 06")
}

func TestChoose(t *testing.T) {
	rng := newRand(11)
	js := jsText(rng, 8_000)
	noise := randomBytes(rng, 8_000)
	tests := []struct {
		name   string
		file   string
		data   []byte
		level  int
		wantBr bool
	}{
		{"Compressible", "app.js", js, 11, true},
		{"Incompressible", "logo.png", noise, 11, false},
		{"Tiny", "a.txt", []byte("ab"), 11, false},
		{"Empty", "empty.txt", nil, 11, true},
		{"Empty/NoCompression", "empty.txt", nil, -1, true},
		{"NoCompression", "app.js", js, -1, false},
		{"ForcedName/Incompressible", "font.woff2.br", noise, 11, true},
		{"ForcedName/Tiny", "x.br", []byte("ab"), 11, true},
		{"ForcedName/NoCompression", "app.js.br", js, -1, true},
		{"Level0", "app.js", js, 0, true},
		{"LevelClamped", "app.js", js, 42, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, br := delta.Choose(tt.file, tt.data, tt.level)
			require.Equal(t, tt.wantBr, br, "Choose(%q, %d bytes, %d)", tt.file, len(tt.data), tt.level)
			if !br {
				assert.True(t, bytes.Equal(tt.data, obj), "raw object is the data")
				return
			}
			assert.True(t, bytes.Equal(tt.data, goDecode(t, obj)), "round trip")
			assert.False(t, takesShortcut(obj))
			if !delta.Forced(tt.file, int64(len(tt.data))) {
				assert.Less(t, len(obj), len(tt.data), "compressed only when smaller")
			}
		})
	}
}

// TestChoose_Reference compares Choose over a web build with the reference
// encoder: Σ min(raw, brotli -q 11) per file must be within 2%.
func TestChoose_Reference(t *testing.T) {
	bin := debianBrotli(t)
	dir := t.TempDir()
	var ours, ref int
	for name, f := range webBuild(5, 6, 128<<10) {
		obj, _ := delta.Choose(name, f.Data, delta.DefaultLevel)
		ours += len(obj)
		if len(f.Data) == 0 || delta.Forced(name, int64(len(f.Data))) {
			ref += len(obj)
			continue
		}
		p := filepath.Join(dir, "f")
		require.NoError(t, os.WriteFile(p, f.Data, 0o644))
		out, err := exec.Command(bin, "-q", "11", "-c", p).Output()
		require.NoError(t, err, "brotli -q 11 %s", name)
		ref += min(len(f.Data), len(out))
	}
	t.Logf("Choose: %d bytes, brotli -q 11: %d bytes (%+.2f%%)", ours, ref, 100*float64(ours-ref)/float64(ref))
	assert.LessOrEqual(t, float64(ours), 1.02*float64(ref))
}

func TestCheckWireNames(t *testing.T) {
	f := func(name string, br bool) manifest.File { return manifest.File{Name: name, Brotli: br} }
	tests := []struct {
		name  string
		files []manifest.File
		ok    bool
	}{
		{"OK", []manifest.File{f("a.js", true), f("b.js", false), f("index.html", true)}, true},
		{"OK/ForcedNextToRaw", []manifest.File{f("a.js", false), f("a.js.br", true)}, true},
		{"OK/Empty", nil, true},
		{"SameName", []manifest.File{f("a.js", true), f("a.js", false)}, false},
		{"WireEqualsName", []manifest.File{f("a.js", true), f("a.js.br", true)}, false},
		{"WireEqualsName/Raw", []manifest.File{f("a.js", true), f("a.js.br", false)}, false},
		{"WireEqualsName/Reversed", []manifest.File{f("x.br", false), f("x", true)}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := delta.CheckWireNames(tt.files)
			if tt.ok {
				assert.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, delta.ErrWireName)
		})
	}
}

func FuzzChoose(f *testing.F) {
	rng := newRand(13)
	f.Add("app.js", jsText(rng, 3000), 5)
	f.Add("x.br", []byte("hello"), 11)
	f.Add("empty", []byte{}, -1)
	f.Add("noise.bin", randomBytes(rng, 1537), 11)
	f.Add("a.js", []byte{0x1b, 0x00, 0x06, 0x03}, 1)
	f.Fuzz(func(t *testing.T, name string, data []byte, level int) {
		level = level%13 - 1 // -13 … 11: negatives and clamping included
		if len(data) > 16<<10 {
			t.Skip("large inputs make quality 11 too slow to fuzz usefully")
		}
		obj, br := delta.Choose(name, data, level)
		forced := delta.Forced(name, int64(len(data)))
		if !br {
			if forced {
				t.Fatalf("Choose(%q, %d bytes, %d) did not compress a forced file", name, len(data), level)
			}
			if !bytes.Equal(obj, data) {
				t.Fatal("raw object differs from the data")
			}
			if level >= 0 && len(delta.Encode(data, level)) < len(data) {
				t.Fatal("kept raw data although brotli is smaller")
			}
			return
		}
		if got := goDecode(t, obj); !bytes.Equal(got, data) {
			t.Fatalf("round trip: got %d bytes, want %d", len(got), len(data))
		}
		if takesShortcut(obj) {
			t.Fatalf("stream % x… would take the plugin's shortcut", obj[:4])
		}
		if !forced && len(obj) >= len(data) {
			t.Fatalf("compressed %d bytes to %d", len(data), len(obj))
		}
	})
}

func ExampleChoose() {
	css := bytes.Repeat([]byte(".btn { color: #333; padding: 4px 8px; }\n"), 100)
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"assets/style.css", css},
		{"favicon.ico", []byte{0, 0, 1, 0}},
		{"assets/wasm.br", []byte{0, 0, 1, 0}},
	} {
		obj, br := delta.Choose(f.name, f.data, delta.DefaultLevel)
		wire := f.name
		if br {
			wire += ".br"
		}
		fmt.Printf("%s: %d → %d bytes, sent as %s\n", f.name, len(f.data), len(obj), wire)
	}
	// Output:
	// assets/style.css: 4000 → 53 bytes, sent as assets/style.css.br
	// favicon.ico: 4 → 4 bytes, sent as favicon.ico
	// assets/wasm.br: 4 → 8 bytes, sent as assets/wasm.br.br
}
