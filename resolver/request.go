package resolver

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"

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

// wireInfo mirrors the JSON info object; pointers detect absent keys.
type wireInfo struct {
	AppID          *string `json:"app_id"`
	DeviceID       *string `json:"device_id"`
	CustomID       *string `json:"custom_id"`
	Platform       *string `json:"platform"`
	VersionName    *string `json:"version_name"`
	VersionBuild   *string `json:"version_build"`
	VersionCode    *string `json:"version_code"`
	VersionOS      *string `json:"version_os"`
	PluginVersion  *string `json:"plugin_version"`
	IsEmulator     *bool   `json:"is_emulator"`
	IsProd         *bool   `json:"is_prod"`
	DefaultChannel *string `json:"defaultChannel"`
	InstallSource  *string `json:"install_source"`
	KeyID          *string `json:"key_id"`
	Channel        *string `json:"channel"`
}

// ParseRequest decodes an update request body and validates it the way
// Capgo's backend does (parsePluginBody, updateRequestSchema), in the same
// order: JSON syntax, device_id, app_id, native version, then the schema.
func ParseRequest(body []byte) (*Request, *Failure) {
	var w wireInfo
	if f := decodeInfo(body, &w); f != nil {
		return nil, f
	}
	return w.request()
}

func decodeInfo(body []byte, w *wireInfo) *Failure {
	err := json.Unmarshal(body, w)
	var typeErr *json.UnmarshalTypeError
	switch {
	case err == nil:
	case errors.As(err, &typeErr):
		if w.DeviceID == nil {
			return fail(http.StatusBadRequest, CodeMissingDeviceID)
		}
		if w.AppID == nil {
			return fail(http.StatusBadRequest, CodeMissingAppID)
		}
		return invalidBody(typeErr.Field)
	default:
		return fail(http.StatusBadRequest, CodeInvalidJSONParse)
	}
	if w.DeviceID == nil || *w.DeviceID == "" {
		return fail(http.StatusBadRequest, CodeMissingDeviceID)
	}
	if w.AppID == nil || *w.AppID == "" {
		return fail(http.StatusBadRequest, CodeMissingAppID)
	}
	return nil
}

func (w *wireInfo) request() (*Request, *Failure) {
	r := &Request{AppID: *w.AppID, DeviceID: strings.ToLower(*w.DeviceID), IsProd: true}
	if w.VersionBuild == nil || *w.VersionBuild == "" {
		return nil, invalidBody("version_build")
	}
	native, err := manifest.CoerceNative(*w.VersionBuild)
	if err != nil {
		return nil, &Failure{Status: http.StatusBadRequest, Code: CodeSemverError, Message: semverMessage(*w.VersionBuild)}
	}
	r.Native, r.VersionBuild = native, native.String()
	r.VersionName = deref(w.VersionName)
	if r.VersionName == "" || r.VersionName == manifest.Builtin {
		r.VersionName, r.OnBuiltin = r.VersionBuild, true
	}
	r.CustomID, r.Platform = deref(w.CustomID), deref(w.Platform)
	r.VersionOS, r.VersionCode = deref(w.VersionOS), deref(w.VersionCode)
	r.InstallSource, r.KeyID = deref(w.InstallSource), deref(w.KeyID)
	r.PluginVersion = deref(w.PluginVersion)
	if w.DefaultChannel != nil {
		r.DefaultChannel, r.HasDefault = *w.DefaultChannel, true
	}
	if w.IsEmulator != nil {
		r.IsEmulator = *w.IsEmulator
	}
	if w.IsProd != nil {
		r.IsProd = *w.IsProd
	}
	if f := r.validate(); f != nil {
		return nil, f
	}
	r.Features = FeaturesFor(r.Plugin, r.HasDefault)
	return r, nil
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

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
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
