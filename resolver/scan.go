package resolver

import (
	"errors"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// The device info object is flat: a dozen string and boolean keys. This is
// a strict, single-pass scanner for it that accepts exactly the documents
// encoding/json accepts up to a nesting depth of 64 (deeper documents are
// refused; checked by FuzzScanInfo), matches keys exactly (as
// the backend, a JavaScript object, does), and takes strings as substrings
// of the body, so decoding allocates only the request itself.

var (
	errSyntax = errors.New("invalid json")
	errType   = errors.New("wrong json type")
)

const maxDepth = 64

type scanner struct {
	s   string
	i   int
	typ string // first field with a wrong type
}

// scanInfo decodes body into w. It returns errSyntax for malformed JSON;
// a known key with a value of the wrong type is recorded in typ (the first
// one) and leaves the field unset, as encoding/json does.
func scanInfo(body string, w *wireInfo) (typeField string, err error) {
	sc := scanner{s: body}
	sc.ws()
	if sc.peek() != '{' {
		if err := sc.value(0); err != nil {
			return "", err
		}
		if sc.ws(); sc.i != len(sc.s) {
			return "", errSyntax
		}
		if body[sc.skipWS(0)] == 'n' { // null: like encoding/json, nothing set
			return "", nil
		}
		return "body", nil
	}
	if err := sc.object(w); err != nil {
		return "", err
	}
	if sc.ws(); sc.i != len(sc.s) {
		return "", errSyntax
	}
	return sc.typ, nil
}

func (sc *scanner) skipWS(i int) int {
	for i < len(sc.s) && (sc.s[i] == ' ' || sc.s[i] == '\t' || sc.s[i] == '\n' || sc.s[i] == '\r') {
		i++
	}
	return i
}

func (sc *scanner) ws() { sc.i = sc.skipWS(sc.i) }

func (sc *scanner) peek() byte {
	if sc.i < len(sc.s) {
		return sc.s[sc.i]
	}
	return 0
}

func (sc *scanner) object(w *wireInfo) error {
	sc.i++ // '{'
	sc.ws()
	if sc.peek() == '}' {
		sc.i++
		return nil
	}
	for {
		sc.ws()
		key, err := sc.str()
		if err != nil {
			return err
		}
		if sc.ws(); sc.peek() != ':' {
			return errSyntax
		}
		sc.i++
		sc.ws()
		if err := sc.field(w, key); err != nil {
			return err
		}
		sc.ws()
		switch sc.peek() {
		case ',':
			sc.i++
		case '}':
			sc.i++
			return nil
		default:
			return errSyntax
		}
	}
}

// field decodes the value of key into w when key is known.
func (sc *scanner) field(w *wireInfo, key string) error {
	var sp *string
	var bp *bool
	var bit uint32
	switch key {
	case "app_id":
		sp, bit = &w.AppID, hasAppID
	case "device_id":
		sp, bit = &w.DeviceID, hasDeviceID
	case "custom_id":
		sp = &w.CustomID
	case "platform":
		sp = &w.Platform
	case "version_name":
		sp = &w.VersionName
	case "version_build":
		sp, bit = &w.VersionBuild, hasVersionBuild
	case "version_code":
		sp = &w.VersionCode
	case "version_os":
		sp = &w.VersionOS
	case "plugin_version":
		sp = &w.PluginVersion
	case "defaultChannel":
		sp, bit = &w.DefaultChannel, hasDefaultChannel
	case "install_source":
		sp = &w.InstallSource
	case "key_id":
		sp = &w.KeyID
	case "channel":
		sp = &w.Channel
	case "is_emulator":
		bp, bit = &w.IsEmulator, hasIsEmulator
	case "is_prod":
		bp, bit = &w.IsProd, hasIsProd
	default:
		return sc.value(0)
	}
	start := sc.i
	c := sc.peek()
	switch {
	case c == 'n':
		return sc.value(0) // null leaves the field as it was
	case sp != nil && c == '"':
		s, err := sc.str()
		if err == nil {
			*sp = s
			w.has |= bit
		}
		return err
	case bp != nil && (c == 't' || c == 'f'):
		if err := sc.value(0); err != nil {
			return err
		}
		*bp = sc.s[start] == 't'
		w.has |= bit
		return nil
	}
	if sc.typ == "" {
		sc.typ = key
	}
	w.bad |= bit
	return sc.value(0)
}

// value skips any JSON value, checking its syntax.
func (sc *scanner) value(depth int) error {
	if depth > maxDepth {
		return errSyntax
	}
	switch c := sc.peek(); {
	case c == '"':
		_, err := sc.str()
		return err
	case c == '{' || c == '[':
		return sc.compound(depth, c)
	case c == 't':
		return sc.lit("true")
	case c == 'f':
		return sc.lit("false")
	case c == 'n':
		return sc.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return sc.number()
	}
	return errSyntax
}

func (sc *scanner) compound(depth int, open byte) error {
	closer := byte('}')
	if open == '[' {
		closer = ']'
	}
	sc.i++
	sc.ws()
	if sc.peek() == closer {
		sc.i++
		return nil
	}
	for {
		sc.ws()
		if open == '{' {
			if _, err := sc.str(); err != nil {
				return err
			}
			if sc.ws(); sc.peek() != ':' {
				return errSyntax
			}
			sc.i++
			sc.ws()
		}
		if err := sc.value(depth + 1); err != nil {
			return err
		}
		sc.ws()
		switch sc.peek() {
		case ',':
			sc.i++
		case closer:
			sc.i++
			return nil
		default:
			return errSyntax
		}
	}
}

func (sc *scanner) lit(word string) error {
	if len(sc.s)-sc.i < len(word) || sc.s[sc.i:sc.i+len(word)] != word {
		return errSyntax
	}
	sc.i += len(word)
	return nil
}

// number checks the JSON number grammar.
func (sc *scanner) number() error {
	s, i := sc.s, sc.i
	if i < len(s) && s[i] == '-' {
		i++
	}
	switch {
	case i < len(s) && s[i] == '0':
		i++
	case i < len(s) && s[i] >= '1' && s[i] <= '9':
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	default:
		return errSyntax
	}
	if i < len(s) && s[i] == '.' {
		i++
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return errSyntax
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if i >= len(s) || s[i] < '0' || s[i] > '9' {
			return errSyntax
		}
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
		}
	}
	sc.i = i
	return nil
}

// str reads a JSON string. Without escapes it returns a substring of the
// body; with escapes it decodes them (one allocation). Invalid UTF-8 is
// replaced by U+FFFD, as encoding/json does.
func (sc *scanner) str() (string, error) {
	if sc.peek() != '"' {
		return "", errSyntax
	}
	start, ascii := sc.i+1, true
	for i := start; i < len(sc.s); i++ {
		switch c := sc.s[i]; {
		case c >= utf8.RuneSelf:
			ascii = false
		case c == '"':
			sc.i = i + 1
			if !ascii {
				return toValidUTF8(sc.s[start:i]), nil
			}
			return sc.s[start:i], nil
		case c == '\\':
			return sc.escaped(start)
		case c < 0x20:
			return "", errSyntax
		}
	}
	return "", errSyntax
}

func (sc *scanner) escaped(start int) (string, error) {
	buf := make([]byte, 0, 32)
	for i := start; i < len(sc.s); {
		c := sc.s[i]
		switch {
		case c == '"':
			sc.i = i + 1
			return toValidUTF8(string(buf)), nil
		case c < 0x20:
			return "", errSyntax
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(sc.s) {
			return "", errSyntax
		}
		switch e := sc.s[i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, n, ok := sc.unicode(i)
			if !ok {
				return "", errSyntax
			}
			buf = utf8.AppendRune(buf, r)
			i += n
			continue
		default:
			return "", errSyntax
		}
		i += 2
	}
	return "", errSyntax
}

// unicode decodes \uXXXX (and a following low surrogate) at i; it returns
// the rune and the number of bytes consumed.
func (sc *scanner) unicode(i int) (rune, int, bool) {
	r, ok := hex4(sc.s, i+2)
	if !ok {
		return 0, 0, false
	}
	if utf16.IsSurrogate(r) {
		if r2, ok := hex4(sc.s, i+8); ok && i+7 < len(sc.s) && sc.s[i+6] == '\\' && sc.s[i+7] == 'u' {
			if d := utf16.DecodeRune(r, r2); d != utf8.RuneError {
				return d, 12, true
			}
		}
		return utf8.RuneError, 6, true
	}
	return r, 6, true
}

func hex4(s string, i int) (rune, bool) {
	if i+4 > len(s) {
		return 0, false
	}
	v, err := strconv.ParseUint(s[i:i+4], 16, 32)
	return rune(v), err == nil
}

func toValidUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b = utf8.AppendRune(b, r) // RuneError for a bad byte
		i += n
	}
	return string(b)
}
