package manifest

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"unicode/utf8"
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
// States and bundle records are written without indentation: they hold an
// entry per file of every live bundle, and indenting would add a third to a
// compact [File]. Pretty-print them with jq or python -m json.tool.
func EncodeState(s *State) ([]byte, error) { return encode(s, false) }

// EncodePointer returns the canonical JSON encoding of p, indented.
func EncodePointer(p *Pointer) ([]byte, error) { return encode(p, true) }

// EncodeBundle returns the canonical JSON encoding of b, unindented like
// [EncodeState].
func EncodeBundle(b *Bundle) ([]byte, error) { return encode(b, false) }

func encode(v any, indent bool) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if indent {
		enc.SetIndent("", " ")
	}
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
	for _, b := range s.Bundles {
		b.restorePaths(s.App)
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
	r.restorePaths(app)
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

// MarshalJSON writes f in its compact form, a JSON array:
//
//	[name, digest, size]              raw object (its size is size)
//	[name, digest, size, objectSize]  brotli-compressed object
//
// digest is SHA256 in unpadded base64url (43 characters rather than 64 hex
// ones). The object's path, [FilePath](app, SHA256, Brotli), is not
// written: [DecodeBundle] and [DecodeState] restore it from the app the
// record belongs to. Nor is Object.SHA256: a clear delta object is checked
// through its content. This keeps an entry near 90 bytes for a typical
// name, against some 380 for the long form.
//
// A File the compact form cannot describe — an object at another path, or
// a raw object whose size is not the file's — is written in the long form,
// a JSON object with the keys of the struct tags, Object.SHA256 included.
func (f File) MarshalJSON() ([]byte, error) {
	if !f.compact() {
		return json.Marshal(longFile(f))
	}
	b := make([]byte, 0, len(f.Name)+80)
	b = append(b, '[')
	b = appendString(b, f.Name)
	b = append(b, ',', '"')
	b = base64.RawURLEncoding.AppendEncode(b, f.SHA256[:])
	b = append(b, '"', ',')
	b = strconv.AppendInt(b, f.Size, 10)
	if f.Brotli {
		b = append(b, ',')
		b = strconv.AppendInt(b, f.Object.Size, 10)
	}
	return append(b, ']'), nil
}

// longFile is the long JSON form of a [File]: the struct tags, without the
// methods.
type longFile File

// compact reports whether f's compact form describes it: its object lies at
// FilePath(app, SHA256, Brotli) for some app id, and a raw object has the
// file's size.
func (f File) compact() bool {
	if !f.Brotli && f.Object.Size != f.Size {
		return false
	}
	p := f.Object.Path
	i := strings.IndexByte(p, '/')
	if i <= 0 || !ValidAppID(p[:i]) {
		return false
	}
	return p == FilePath(p[:i], f.SHA256, f.Brotli)
}

// UnmarshalJSON reads either form [File.MarshalJSON] writes. After the
// compact form, Object.Path is empty until the record's app restores it.
func (f *File) UnmarshalJSON(b []byte) error {
	b = bytes.TrimLeft(b, " \t\r\n")
	switch {
	case len(b) == 0:
		return errors.New("file entry: empty")
	case b[0] == '{':
		var l longFile
		if err := json.Unmarshal(b, &l); err != nil {
			return err
		}
		*f = File(l)
		return nil
	case b[0] != '[':
		if string(b) == "null" {
			return nil
		}
		return fmt.Errorf("file entry: want an array or an object, got %.20s", b)
	}
	n, ok := parseCompact(b)
	if !ok {
		var err error
		if n, err = parseCompactSlow(b); err != nil {
			return err
		}
	}
	if n.Size < 0 || n.Object.Size < 0 {
		return fmt.Errorf("file entry %q: negative size", n.Name)
	}
	*f = n
	return nil
}

// parseCompactSlow parses the compact form of a [File] with encoding/json.
func parseCompactSlow(b []byte) (File, error) {
	var n File
	var t []json.RawMessage
	if err := json.Unmarshal(b, &t); err != nil {
		return n, fmt.Errorf("file entry: %w", err)
	}
	if len(t) != 3 && len(t) != 4 {
		return n, fmt.Errorf("file entry: %d elements, want 3 or 4", len(t))
	}
	var sum string
	if err := errors.Join(json.Unmarshal(t[0], &n.Name), json.Unmarshal(t[1], &sum), json.Unmarshal(t[2], &n.Size)); err != nil {
		return n, fmt.Errorf("file entry: %w", err)
	}
	if !decodeDigest(&n.SHA256, sum) {
		return n, fmt.Errorf("file entry %q: digest %q is not %d bytes of unpadded base64url", n.Name, sum, DigestSize)
	}
	n.Object.Size = n.Size
	if len(t) == 4 {
		n.Brotli = true
		if err := json.Unmarshal(t[3], &n.Object.Size); err != nil {
			return n, fmt.Errorf("file entry %q: %w", n.Name, err)
		}
	}
	return n, nil
}

// parseCompact parses the compact form of a [File] as [File.MarshalJSON]
// writes it, without allocating beyond the name. It reports false for
// anything else — whitespace, escapes, non-ASCII names, errors — which
// [parseCompactSlow] then handles.
func parseCompact(b []byte) (n File, ok bool) {
	str := func() (string, bool) {
		if len(b) == 0 || b[0] != '"' {
			return "", false
		}
		for i := 1; i < len(b); i++ {
			switch c := b[i]; {
			case c == '"':
				s := string(b[1:i])
				b = b[i+1:]
				return s, true
			case c == '\\' || c < 0x20 || c >= utf8.RuneSelf:
				return "", false
			}
		}
		return "", false
	}
	num := func() (int64, bool) {
		i := 0
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == 0 || i > 18 || (b[0] == '0' && i > 1) {
			return 0, false
		}
		v, err := strconv.ParseInt(string(b[:i]), 10, 64)
		b = b[i:]
		return v, err == nil
	}
	sep := func(c byte) bool {
		if len(b) == 0 || b[0] != c {
			return false
		}
		b = b[1:]
		return true
	}
	var sum string
	if !sep('[') {
		return n, false
	}
	if n.Name, ok = str(); !ok || !sep(',') {
		return n, false
	}
	if sum, ok = str(); !ok || !decodeDigest(&n.SHA256, sum) || !sep(',') {
		return n, false
	}
	if n.Size, ok = num(); !ok {
		return n, false
	}
	n.Object.Size = n.Size
	if sep(',') {
		n.Brotli = true
		if n.Object.Size, ok = num(); !ok {
			return n, false
		}
	}
	return n, sep(']') && len(b) == 0
}

// decodeDigest decodes the unpadded base64url form of a digest into d.
func decodeDigest(d *Digest, s string) bool {
	if len(s) != base64.RawURLEncoding.EncodedLen(DigestSize) {
		return false
	}
	n, err := base64.RawURLEncoding.Strict().Decode(d[:], []byte(s))
	return err == nil && n == DigestSize
}

// restorePaths fills in the object paths the compact form of b's files
// left out. It does nothing for an invalid app id, whose records then fail
// validation.
func (b *Bundle) restorePaths(app string) {
	if b == nil || !ValidAppID(app) {
		return
	}
	for i := range b.Files {
		if f := &b.Files[i]; f.Object.Path == "" {
			f.Object.Path = FilePath(app, f.SHA256, f.Brotli)
		}
	}
}

// encryptedFile is the JSON form of an [EncryptedFile]. The object path is
// kept: it names a digest that cannot be derived from the record.
type encryptedFile struct {
	Name       string `json:"n"`
	Size       int64  `json:"s"`
	Brotli     bool   `json:"b,omitempty"`
	HashV3     string `json:"v3"`
	HashV2     string `json:"v2"`
	Path       string `json:"p"`
	ObjectSize int64  `json:"ps"`
	ObjectSum  Digest `json:"ph"`
}

// MarshalJSON writes f as a JSON object with short keys: n (name), s
// (size), b (brotli, when set), v3 and v2 (wrapped hashes), and the
// object's p (path), ps (size) and ph (SHA-256, hex).
func (f EncryptedFile) MarshalJSON() ([]byte, error) {
	return json.Marshal(encryptedFile{f.Name, f.Size, f.Brotli, f.HashV3, f.HashV2,
		f.Object.Path, f.Object.Size, f.Object.SHA256})
}

// UnmarshalJSON reads the form [EncryptedFile.MarshalJSON] writes.
func (f *EncryptedFile) UnmarshalJSON(b []byte) error {
	var e encryptedFile
	if err := json.Unmarshal(b, &e); err != nil {
		return err
	}
	*f = EncryptedFile{Name: e.Name, Size: e.Size, Brotli: e.Brotli, HashV3: e.HashV3, HashV2: e.HashV2,
		Object: Object{Path: e.Path, Size: e.ObjectSize, SHA256: e.ObjectSum}}
	return nil
}

// appendString appends s to b as a JSON string the way encoding/json does
// with HTML escaping off: invalid UTF-8 becomes U+FFFD, and U+2028 and
// U+2029 are escaped.
func appendString(b []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		if c := s[i]; c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
