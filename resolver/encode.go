package resolver

import (
	"encoding/json"
	"unicode/utf8"

	"github.com/capstatic/capstatic/manifest"
)

// Variant bits of an update answer. For a clear bundle variantAlt selects
// the SHA-256 checksum (else CRC32); for a v2 record it selects the hex "V3"
// wrapped checksum (else base64 "V2").
const (
	variantAlt      = 1 << iota
	variantManifest // include the delta manifest
	variantLink     // include link and comment
	variantCount    = 1 << iota
)

// updateAnswer is the success shape of capgo-protocol.md §1.2, field order
// as the backend writes it.
type updateAnswer struct {
	Version    string          `json:"version"`
	URL        string          `json:"url"`
	SessionKey string          `json:"session_key"`
	Checksum   string          `json:"checksum"`
	Manifest   []manifestEntry `json:"manifest,omitempty"`
	Link       string          `json:"link,omitempty"`
	Comment    string          `json:"comment,omitempty"`
}

// manifestEntry is one row of the protocol's manifest (§2.1).
type manifestEntry struct {
	FileName    string `json:"file_name"`
	FileHash    string `json:"file_hash"`
	DownloadURL string `json:"download_url"`
}

// answerBytes returns the encoded update answer for decision d and
// request features f, building it on first use.
func (a *App) answerBytes(d *Decision, f Features, zipOnly bool) []byte {
	b := d.bundle
	v, slot := 0, 0
	if d.key != nil {
		slot = variantCount * (1 + d.keyIndex)
		if d.key.Scheme == manifest.SchemeV2 && f.V3 {
			v |= variantAlt
		}
	} else if f.SHA256 {
		v |= variantAlt
	}
	if f.Manifest && !zipOnly && (d.key == nil || d.key.Scheme == manifest.SchemeV2) {
		v |= variantManifest
	}
	if f.LinkComment {
		v |= variantLink
	}
	la := &b.answers[slot+v]
	la.once.Do(func() { la.b = a.buildAnswer(b.rec, d.key, v) })
	return la.b
}

func (a *App) buildAnswer(rec *manifest.Bundle, key *manifest.Encryption, v int) []byte {
	ans := updateAnswer{Version: rec.Version}
	switch {
	case key == nil:
		ans.URL, ans.Checksum = a.url(rec.Zip.Path), rec.CRC32
		if v&variantAlt != 0 {
			ans.Checksum = rec.SHA256.String()
		}
		if v&variantManifest != 0 {
			for _, f := range rec.Files {
				ans.Manifest = append(ans.Manifest, manifestEntry{f.WireName(), f.SHA256.String(), a.url(f.Object.Path)})
			}
		}
	case key.Scheme == manifest.SchemeV1:
		ans.URL, ans.SessionKey, ans.Checksum = a.url(key.Zip.Path), key.SessionKey, rec.CRC32
	default:
		ans.URL, ans.SessionKey, ans.Checksum = a.url(key.Zip.Path), key.SessionKey, key.ChecksumV2
		if v&variantAlt != 0 {
			ans.Checksum = key.ChecksumV3
		}
		if v&variantManifest != 0 {
			for _, f := range key.Files {
				h := f.HashV2
				if v&variantAlt != 0 {
					h = f.HashV3
				}
				ans.Manifest = append(ans.Manifest, manifestEntry{f.WireName(), h, a.url(f.Object.Path)})
			}
		}
	}
	if v&variantLink != 0 {
		ans.Link, ans.Comment = rec.Link, rec.Comment
	}
	out, err := json.Marshal(ans)
	if err != nil {
		panic("resolver: encode update answer: " + err.Error()) // only strings: cannot fail
	}
	return out
}

func (a *App) url(path string) string { return a.urls.Files + "/" + path }

// revertAnswer is the answer that makes a ≥ 6.2.0 plugin revert to builtin.
func revertAnswer(u URLs) []byte {
	b, _ := json.Marshal(updateAnswer{Version: manifest.Builtin, URL: u.Builtin})
	return b
}

// AppendAnswer appends the JSON answer for decision d to buf.
func (a *App) AppendAnswer(buf []byte, d *Decision, r *Request) []byte {
	switch {
	case d.Code == "" && d.Revert:
		return append(buf, a.revert...)
	case d.Code == "":
		return append(buf, a.answerBytes(d, r.Features, d.ch.s.ZipOnly)...)
	}
	return appendRefusal(buf, d, r)
}

// appendRefusal writes {"error","message",extras…,"kind"} (updateError200).
func appendRefusal(buf []byte, d *Decision, r *Request) []byte {
	buf = append(buf, `{"error":`...)
	buf = appendString(buf, d.Code)
	buf = append(buf, `,"message":`...)
	buf = appendString(buf, refusalMessage(d, r))
	target := d.Version()
	switch d.Code {
	case CodeDisableMajor, CodeDisableMinor, CodeDisablePatch, CodeDisableMetadata:
		buf = append(buf, `,"major":true`...)
		buf = appendKV(appendKV(buf, "version", target), "old", r.VersionBuild)
	case CodeMisconfigured:
		buf = appendKV(appendKV(buf, "version", target), "old", r.VersionBuild)
	case CodeDisabledPlatform + r.Platform, CodeDisableUnderNative, CodeDisableProd, CodeDisableDev,
		CodeDisableDevice, CodeDisableEmulator:
		buf = appendKV(appendKV(buf, "version", target), "old", r.VersionName)
	case CodeKeyIDMismatch:
		buf = appendKV(appendKV(buf, "deviceKeyId", d.DeviceKey), "bundleKeyId", d.BundleKey)
	}
	buf = appendKV(buf, "kind", kindOf(d.Code))
	return append(buf, '}')
}

func refusalMessage(d *Decision, r *Request) string {
	switch d.Code {
	case CodeUnsupportedPlugin:
		return messages[CodeUnsupportedPlugin+":prefix"] + r.PluginVersion + messages[CodeUnsupportedPlugin+":suffix"]
	case CodeMisconfigured:
		return messages[CodeMisconfigured+":prefix"] + d.Channel + messages[CodeMisconfigured+":suffix"]
	case CodePrivateChannel:
		m := messages[CodePrivateChannel+":prefix"] + d.Channel
		if r.DefaultChannel != "" {
			return m + messages[CodePrivateChannel+":with"] + r.DefaultChannel + messages[CodePrivateChannel+":with_end"]
		}
		return m + messages[CodePrivateChannel+":without"]
	case CodeKeyIDMismatch:
		if d.Unrecorded {
			return messages[CodeKeyIDMismatch+":unrecorded"]
		}
		if d.MissingEncoding {
			return messages[CodeKeyIDMismatch+":encoding"]
		}
	}
	return messages[d.Code]
}

// AppendFailure appends the JSON body of a non-200 failure: {error,
// message, moreInfo} as the backend's on_error, plus kind "failed" so Gen N
// plugins classify it without guessing. on_premise_app carries no kind.
func AppendFailure(buf []byte, f *Failure) []byte {
	buf = append(buf, `{"error":`...)
	buf = appendString(buf, f.Code)
	if f.Message != "" || f.Code != CodeOnPremise {
		buf = append(buf, `,"message":`...)
		buf = appendString(buf, f.Message)
	}
	if f.Code == CodeOnPremise {
		return append(buf, '}')
	}
	buf = append(buf, `,"moreInfo":{`...)
	if f.Field != "" {
		buf = append(buf, `"field":`...)
		buf = appendString(buf, f.Field)
	}
	buf = append(buf, '}')
	buf = appendKV(buf, "kind", KindFailed)
	return append(buf, '}')
}

func appendKV(buf []byte, k, v string) []byte {
	buf = append(buf, ',', '"')
	buf = append(buf, k...)
	buf = append(buf, '"', ':')
	return appendString(buf, v)
}

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD.
func appendString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	for i := 0; i < len(s); {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			buf = append(buf, '\\', c)
		case c < 0x20 || c == '<' || c == '>' || c == '&':
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		case c < utf8.RuneSelf:
			buf = append(buf, c)
		default:
			r, n := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && n == 1 {
				buf = append(buf, `\ufffd`...)
			} else {
				buf = append(buf, s[i:i+n]...)
			}
			i += n
			continue
		}
		i++
	}
	return append(buf, '"')
}
