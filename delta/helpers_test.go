package delta_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/andybalholm/brotli"
)

const testApp = "com.example.app"

// jsText returns about n bytes of JavaScript-like text: code templates
// filled with identifiers drawn from a pool, so it compresses like a
// minified bundle does rather than like random bytes or one repeated line.
func jsText(rng *rand.Rand, n int) []byte {
	idents := make([]string, 256)
	for i := range idents {
		b := make([]byte, 3+rng.IntN(10))
		for j := range b {
			b[j] = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_$"[rng.IntN(54)]
		}
		idents[i] = string(b)
	}
	id := func() string { return idents[rng.IntN(len(idents))] }
	var buf bytes.Buffer
	for buf.Len() < n {
		switch rng.IntN(5) {
		case 0:
			fmt.Fprintf(&buf, "function %s(%s,%s){return %s.%s(%s)+%d}", id(), id(), id(), id(), id(), id(), rng.IntN(1000))
		case 1:
			fmt.Fprintf(&buf, "const %s=%s(\"%s\");", id(), id(), id())
		case 2:
			fmt.Fprintf(&buf, "export const %s={%s:%d,%s:\"%s\"};", id(), id(), rng.IntN(1e6), id(), id())
		case 3:
			fmt.Fprintf(&buf, "if(%s&&%s.length>%d){%s.push(%s)}", id(), id(), rng.IntN(64), id(), id())
		default:
			fmt.Fprintf(&buf, "%s.addEventListener(\"%s\",()=>{%s=%s.%s;});\n", id(), id(), id(), id(), id())
		}
	}
	return buf.Bytes()
}

// randomBytes returns n incompressible bytes, like an image or a font.
func randomBytes(rng *rand.Rand, n int) []byte {
	var seed [32]byte
	for i := range seed {
		seed[i] = byte(rng.Uint32())
	}
	b := make([]byte, n)
	_, _ = rand.NewChaCha8(seed).Read(b) // never fails
	return b
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// shortHash is the 8-hex content hash bundlers put in chunk names.
func shortHash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:4])
}

// webBuild returns a pseudo web build of about size bytes: index.html, a
// vendor chunk, chunks that import it (named by content hash, so that a
// change to the vendor chunk renames them all), a stylesheet, an image and
// an empty file. vendorSeed alone decides the vendor chunk.
func webBuild(seed, vendorSeed uint64, size int) fstest.MapFS {
	rng := newRand(seed)
	fsys := fstest.MapFS{}
	vendor := jsText(newRand(vendorSeed), max(size/8, 256))
	vendorName := "vendor-" + shortHash(vendor) + ".js"
	fsys["assets/"+vendorName] = &fstest.MapFile{Data: vendor}
	chunk := max(size/16, 512)
	var scripts strings.Builder
	for i := 0; i < 10; i++ {
		data := append([]byte(fmt.Sprintf("import{x as v}from\"./%s\";", vendorName)), jsText(rng, chunk)...)
		name := fmt.Sprintf("assets/page%d-%s.js", i, shortHash(data))
		fsys[name] = &fstest.MapFile{Data: data}
		fmt.Fprintf(&scripts, "<script type=\"module\" src=\"%s\"></script>\n", name)
	}
	fsys["index.html"] = &fstest.MapFile{Data: []byte("<!doctype html><html><head><meta charset=\"utf-8\">" +
		"<link rel=\"stylesheet\" href=\"assets/style.css\"></head><body><div id=\"app\"></div>\n" + scripts.String() + "</body></html>\n")}
	fsys["assets/style.css"] = &fstest.MapFile{Data: bytes.Repeat([]byte(".btn{color:#333;padding:4px 8px}\n"), max(size/200, 4))}
	fsys["assets/logo.png"] = &fstest.MapFile{Data: randomBytes(rng, max(size/16, 1024))}
	fsys["assets/.keep"] = &fstest.MapFile{Data: nil}
	return fsys
}

// goDecode decodes a brotli stream with github.com/andybalholm/brotli.
func goDecode(t testing.TB, obj []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(brotli.NewReader(bytes.NewReader(obj)))
	if err != nil {
		t.Fatalf("andybalholm/brotli cannot decode %d-byte stream % x…: %v", len(obj), obj[:min(len(obj), 8)], err)
	}
	return out
}

// debianBrotli returns the path of the reference brotli command, an
// implementation independent of the encoder under test. It skips the test
// when there is none, unless $CI is set.
func debianBrotli(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("brotli")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("brotli command required in CI (apt-get install brotli): %v", err)
		}
		t.Skipf("brotli command not installed: %v", err)
	}
	return p
}

// refDecode decodes obj with the brotli command at bin.
func refDecode(bin string, obj []byte) ([]byte, error) {
	cmd := exec.Command(bin, "-d", "-c")
	cmd.Stdin = bytes.NewReader(obj)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	return out.Bytes(), nil
}

// takesShortcut reports whether the plugin would not brotli-decode obj but
// special-case it (P8 DownloadService.java / CapgoUpdater.swift
// decompressBrotli): the 3-byte "empty stream" 1B 00 06, or a stream that
// starts 1B 00 06 or 0B 02 80 and ends 03, of which it strips 3+1 bytes.
func takesShortcut(obj []byte) bool {
	if bytes.Equal(obj, []byte{0x1b, 0x00, 0x06}) {
		return true
	}
	return len(obj) > 3 && obj[len(obj)-1] == 0x03 &&
		(bytes.HasPrefix(obj, []byte{0x1b, 0x00, 0x06}) || bytes.HasPrefix(obj, []byte{0x0b, 0x02, 0x80}))
}
