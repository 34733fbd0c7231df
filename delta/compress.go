package delta

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"github.com/andybalholm/brotli"
	"github.com/capstatic/capstatic/manifest"
)

// DefaultLevel is the brotli quality used unless told otherwise: the
// densest. Objects are compressed once at publish time and downloaded by
// every device, so the slow encoder pays for itself.
const DefaultLevel = 11

// ErrWireName means two manifest entries would reach the device under
// names it cannot tell apart (protocol §2.2: duplicate targets fail the
// whole download).
var ErrWireName = errors.New("wire name collision")

// Encode returns data brotli-compressed at quality level, clamped to 0–11.
//
// The window is the smallest power of two from 2^16 up that covers data
// (capped at 2^24, the largest every decoder supports), as the brotli
// command picks it, so small files cost devices little memory. 2^22 is
// never used: a stream with that window starts with the byte 0B or 1B, and
// the plugin, seeing 1B 00 06 or 0B 02 80 at the start and 03 at the end,
// skips decoding and just strips four bytes (P8 DownloadService.java and
// CapgoUpdater.swift decompressBrotli). Windows other than 2^22 give a first
// byte whose low nibble is not B, so no stream of ours can take that path.
//
// Encode is deterministic: the same data and level give the same bytes.
func Encode(data []byte, level int) []byte {
	var buf bytes.Buffer
	buf.Grow(len(data)/3 + 16)
	w := brotli.NewWriterOptions(&buf, brotli.WriterOptions{
		Quality: min(max(level, 0), 11),
		LGWin:   window(len(data)),
	})
	// Writing to a bytes.Buffer cannot fail; an error here is an encoder
	// bug, and returning bytes that might not decode would be worse.
	if _, err := w.Write(data); err != nil {
		panic(fmt.Sprintf("delta: brotli encoder: %v", err))
	}
	if err := w.Close(); err != nil {
		panic(fmt.Sprintf("delta: brotli encoder: %v", err))
	}
	return buf.Bytes()
}

// window returns the base-2 logarithm of the brotli window for n bytes.
func window(n int) int {
	const gap = 16 // BROTLI_WINDOW_GAP: the window reaches 2^lg - 16 back
	lg := 16
	for lg < 24 && 1<<lg-gap < n {
		lg++
	}
	if lg == 22 {
		lg = 23 // see Encode: 2^22 streams can trip the plugin's shortcut
	}
	return lg
}

// EmptyStream returns the brotli stream sent for an empty file: the single
// byte 06, which is what [Encode] produces for empty input at qualities 2 to
// 11 (window 2^16, one empty last meta-block; qualities 0 and 1 force a
// larger window and give 33), and the "empty.compressed" vector of the brotli
// reference test suite, so every decoder knows it.
//
// The plugin also special-cases the 3 bytes 1B 00 06 as "empty", but that
// is not a valid brotli stream (it announces a 1537-byte meta-block and
// stops): the reference decoder (`brotli -d`) rejects it as corrupt input,
// so a tool or CDN that checks our objects would too. The plugin decodes 06
// through its ordinary brotli decoder on both platforms.
func EmptyStream() []byte { return []byte{0x06} }

// Forced reports whether a file must be sent brotli-compressed whatever
// the ratio: a name ending in ".br" (sent raw, the device would decode it)
// and an empty file (sent as [EmptyStream], a non-empty object that every
// store and CDN serves normally).
func Forced(name string, size int64) bool {
	return size == 0 || strings.HasSuffix(name, ".br")
}

// Choose returns the object to store for the file name with content data,
// and whether it is brotli-compressed (so that its wire name is name+".br").
//
// A [Forced] file is always compressed, at quality max(level, 0); an empty
// one becomes [EmptyStream]. Otherwise a negative level means "do not
// compress" (fast publishes while developing), and any other level
// compresses at that quality and keeps the result only when it is strictly
// smaller than data. When br is false, obj is data itself.
func Choose(name string, data []byte, level int) (obj []byte, br bool) {
	if len(data) == 0 {
		return EmptyStream(), true
	}
	if Forced(name, int64(len(data))) {
		return Encode(data, level), true
	}
	if level < 0 {
		return data, false
	}
	if c := Encode(data, level); len(c) < len(data) {
		return c, true
	}
	return data, false
}

// CheckWireNames returns an error wrapping [ErrWireName] when the device
// could not tell the entries of files apart: two entries with the same
// name, two with the same wire name ([manifest.File.WireName]), or a wire
// name equal to another entry's name (such as "a.js" sent as "a.js.br" next
// to a file "a.js.br"). The plugin rejects duplicate targets, and which of
// two such names it decodes is not something to leave to chance.
func CheckWireNames(files []manifest.File) error {
	names := make(map[string]int, len(files))
	for i, f := range files {
		if j, dup := names[f.Name]; dup {
			return fmt.Errorf("file %q appears twice (entries %d and %d): %w", f.Name, j, i, ErrWireName)
		}
		names[f.Name] = i
	}
	wires := make(map[string]string, len(files))
	for _, f := range files {
		w := f.WireName()
		if other, dup := wires[w]; dup {
			return fmt.Errorf("files %q and %q are both sent as %q: %w", other, f.Name, w, ErrWireName)
		}
		wires[w] = f.Name
		if _, clash := names[w]; clash && w != f.Name {
			return fmt.Errorf("file %q is sent as %q, the name of another file: %w", f.Name, w, ErrWireName)
		}
	}
	return nil
}
