package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"strings"
)

// Size limits for reading documents from an untrusted store.
const (
	MaxPointerSize = 64 << 10
	MaxStateSize   = 256 << 20
	MaxBundleSize  = 64 << 20
	MaxIndexSize   = 4 << 20
)

// Index is the list of apps in a tree, stored at [IndexPath].
type Index struct {
	Apps []string `json:"apps"`
}

// EncodeState returns the canonical JSON encoding of s (map keys sorted).
func EncodeState(s *State) ([]byte, error) { return encode(s) }

// EncodePointer returns the canonical JSON encoding of p.
func EncodePointer(p *Pointer) ([]byte, error) { return encode(p) }

// EncodeBundle returns the canonical JSON encoding of b.
func EncodeBundle(b *Bundle) ([]byte, error) { return encode(b) }

func encode(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", " ")
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return buf.Bytes(), nil
}

// DecodeState decodes and validates a state document.
func DecodeState(b []byte) (*State, error) {
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("decode state: %w", err)
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// DecodePointer decodes and validates a pointer.
func DecodePointer(b []byte) (*Pointer, error) {
	var p Pointer
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("decode pointer: %w", err)
	}
	if p.Format < 1 || p.Format > FormatVersion {
		return nil, fmt.Errorf("decode pointer: unsupported format %d", p.Format)
	}
	if err := CheckAppID(p.App); err != nil {
		return nil, fmt.Errorf("decode pointer: %w", err)
	}
	if p.StateSize <= 0 || p.StateSize > MaxStateSize {
		return nil, fmt.Errorf("decode pointer: state size %d out of range", p.StateSize)
	}
	return &p, nil
}

// DecodeBundle decodes and validates a bundle record of app.
func DecodeBundle(app string, b []byte) (*Bundle, error) {
	var r Bundle
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("decode bundle: %w", err)
	}
	if err := r.Validate(app); err != nil {
		return nil, err
	}
	return &r, nil
}

// ReadAll reads at most max bytes from r and fails if there are more.
func ReadAll(r io.Reader, max int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, fmt.Errorf("document larger than %d bytes", max)
	}
	return b, nil
}

// ValidObjectPath reports whether p is a clean relative tree path inside
// app's folder: no "..", no absolute path, no backslash, no NUL.
func ValidObjectPath(app, p string) bool {
	if p == "" || strings.ContainsAny(p, "\\\x00") || path.IsAbs(p) || path.Clean(p) != p {
		return false
	}
	return strings.HasPrefix(p, app+"/") && !strings.Contains("/"+p+"/", "/../")
}

// ValidFileName reports whether name is a bundle-relative file path the
// plugin accepts: non-empty, '/'-separated, relative, no "." or ".."
// segments, no backslash, no NUL.
func ValidFileName(name string) bool {
	if name == "" || strings.ContainsAny(name, "\\\x00") || strings.HasPrefix(name, "/") {
		return false
	}
	for _, seg := range strings.Split(name, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
	}
	return true
}
