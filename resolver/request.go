package resolver

import (
	"net/http"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/Masterminds/semver/v3"

	"github.com/capstatic/capstatic/manifest"
)

// Request is a decoded and validated device request: the info object every
// plugin endpoint receives (capgo-protocol.md §1.1).
type Request struct {
	AppID    string
	DeviceID string // lower-cased
	CustomID string
	Platform string
	// VersionName is the running bundle's version, with "builtin" and ""
	// replaced by VersionBuild as the backend does.
	VersionName string
	// OnBuiltin reports that the device runs the bundle inside its binary.
	OnBuiltin bool
	// VersionBuild is the native version, coerced to strict semver.
	VersionBuild string
	Native       *semver.Version
	// Plugin and Features come from plugin_version.
	PluginVersion string
	Plugin        PluginVersion
	Features      Features
	IsEmulator    bool
	IsProd        bool
	// DefaultChannel is the device's chosen channel; HasDefault reports
	// whether the key was present at all (legacy detection needs that).
	DefaultChannel string
	HasDefault     bool
	KeyID          string
	VersionOS      string
	VersionCode    string
	InstallSource  string
}

// Failure is an answer with a non-200 status: a request that could not be
// decided (capgo-protocol.md §1.1, §1.2 thrown errors).
type Failure struct {
	Status  int
	Code    string
	Message string
	// Field names the offending field of an invalid_json_body answer.
	Field string
}

func (f *Failure) Error() string { return f.Code + ": " + f.Message }

func fail(status int, code string) *Failure {
	return &Failure{Status: status, Code: code, Message: messages[code]}
}

func invalidBody(field string) *Failure {
	f := fail(http.StatusBadRequest, CodeInvalidJSONBody)
	f.Field = field
	return f
}

// wireInfo holds the JSON info object's fields; has records which keys
// were present with a value of the right type.
type wireInfo struct {
	AppID, DeviceID, CustomID, Platform      string
	VersionName, VersionBuild, VersionCode   string
	VersionOS, PluginVersion, DefaultChannel string
	InstallSource, KeyID, Channel            string
	IsEmulator, IsProd                       bool
	has, bad                                 uint32 // keys present; keys present with a wrong type
}

// Bits of wireInfo.has.
const (
	hasAppID = 1 << iota
	hasDeviceID
	hasVersionBuild
	hasDefaultChannel
	hasIsEmulator
	hasIsProd
)

// ParseRequest decodes an update request body and validates it the way
// Capgo's backend does (parsePluginBody, updateRequestSchema), in the same
// order: JSON syntax, device_id, app_id, native version, then the schema.
func ParseRequest(body []byte) (*Request, *Failure) {
	var w wireInfo
	if f := decodeInfo(body, &w); f != nil {
		return nil, f
	}
	return w.request(nil)
}

// ParseRequestCached is [ParseRequest] with native versions parsed through
// c.
func ParseRequestCached(body []byte, c *Natives) (*Request, *Failure) {
	var w wireInfo
	if f := decodeInfo(body, &w); f != nil {
		return nil, f
	}
	return w.request(c)
}

func decodeInfo(body []byte, w *wireInfo) *Failure {
	typeField, err := scanInfo(string(body), w)
	if err != nil {
		return fail(http.StatusBadRequest, CodeInvalidJSONParse)
	}
	switch {
	case w.bad&hasDeviceID != 0:
		return invalidBody("device_id")
	case w.DeviceID == "":
		return fail(http.StatusBadRequest, CodeMissingDeviceID)
	case w.bad&hasAppID != 0:
		return invalidBody("app_id")
	case w.AppID == "":
		return fail(http.StatusBadRequest, CodeMissingAppID)
	}
	if typeField != "" {
		return invalidBody(typeField)
	}
	return nil
}

func (w *wireInfo) request(natives *Natives) (*Request, *Failure) {
	if w.VersionBuild == "" {
		return nil, invalidBody("version_build")
	}
	native, err := natives.coerce(w.VersionBuild)
	if err != nil {
		return nil, &Failure{Status: http.StatusBadRequest, Code: CodeSemverError, Message: semverMessage(w.VersionBuild)}
	}
	r := &Request{AppID: w.AppID, DeviceID: lowerASCII(w.DeviceID), IsProd: true, Native: native,
		VersionBuild: native.Original(), VersionName: w.VersionName, CustomID: w.CustomID, Platform: w.Platform,
		VersionOS: w.VersionOS, VersionCode: w.VersionCode, InstallSource: w.InstallSource, KeyID: w.KeyID,
		PluginVersion: w.PluginVersion, DefaultChannel: w.DefaultChannel, HasDefault: w.has&hasDefaultChannel != 0}
	if r.VersionName == "" || r.VersionName == manifest.Builtin {
		r.VersionName, r.OnBuiltin = r.VersionBuild, true
	}
	if w.has&hasIsEmulator != 0 {
		r.IsEmulator = w.IsEmulator
	}
	if w.has&hasIsProd != 0 {
		r.IsProd = w.IsProd
	}
	if f := r.validate(); f != nil {
		return nil, f
	}
	r.Features = FeaturesFor(r.Plugin, r.HasDefault)
	return r, nil
}

// lowerASCII lower-cases s, allocating only when it has upper-case letters.
func lowerASCII(s string) string {
	for i := 0; i < len(s); i++ {
		if 'A' <= s[i] && s[i] <= 'Z' {
			return strings.ToLower(s)
		}
	}
	return s
}

func (r *Request) validate() *Failure {
	var ok bool
	switch {
	case !manifest.ValidAppID(r.AppID):
		return invalidBody("app_id")
	case !validDeviceID(r.DeviceID):
		return invalidBody("device_id")
	case !manifest.ValidPlatform(r.Platform):
		return invalidBody("platform")
	case len(r.InstallSource) > 64:
		return invalidBody("install_source")
	case len(r.KeyID) > 20:
		return invalidBody("key_id")
	case len(r.CustomID) > 36:
		return invalidBody("custom_id")
	case len(r.VersionName) > 256:
		return invalidBody("version_name")
	}
	if r.Plugin, ok = ParsePluginVersion(r.PluginVersion); !ok {
		return invalidBody("plugin_version")
	}
	return nil
}

// validDeviceID reports whether id (already lower-cased) is UUID-shaped.
func validDeviceID(id string) bool {
	if len(id) != 36 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
				return false
			}
		}
	}
	return true
}

// Natives remembers parsed native versions: devices of one app report few
// distinct ones, and parsing semver allocates. The zero value is ready;
// it holds at most maxNatives entries. Safe for concurrent use.
type Natives struct {
	m sync.Map // string → *semver.Version
	n atomic.Int64
}

const maxNatives = 4096

// coerce is [manifest.CoerceNative] through the cache; a nil cache parses.
func (c *Natives) coerce(s string) (*semver.Version, error) {
	if c == nil {
		return manifest.CoerceNative(s)
	}
	if v, ok := c.m.Load(s); ok {
		return v.(*semver.Version), nil
	}
	v, err := manifest.CoerceNative(s)
	if err == nil && len(s) <= 64 && c.n.Add(1) <= maxNatives {
		c.m.Store(strings.Clone(s), v)
	}
	return v, err
}
