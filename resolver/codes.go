package resolver

// Answer codes, the "error" values of capgo-protocol.md §1.2. The empty code
// means "an update is offered".
const (
	CodeUpdate                 = ""
	CodeUnsupportedPlugin      = "unsupported_plugin_version"
	CodeNoChannel              = "no_channel"
	CodeNoBundle               = "no_bundle"
	CodeKeyIDMismatch          = "key_id_mismatch"
	CodeNoNewVersion           = "no_new_version_available"
	CodeDisabledPlatform       = "disabled_platform_" // + platform
	CodeDisableMajor           = "disable_auto_update_to_major"
	CodePrivateChannel         = "cannot_update_via_private_channel"
	CodeDisableMinor           = "disable_auto_update_to_minor"
	CodeDisablePatch           = "disable_auto_update_to_patch"
	CodeMisconfigured          = "misconfigured_channel"
	CodeDisableMetadata        = "disable_auto_update_to_metadata"
	CodeDisableUnderNative     = "disable_auto_update_under_native"
	CodeDisableProd            = "disable_prod_build"
	CodeDisableDev             = "disable_dev_build"
	CodeDisableDevice          = "disable_device"
	CodeDisableEmulator        = "disable_emulator"
	CodeAlreadyOnBuiltin       = "already_on_builtin"
	CodeRevertTooOld           = "revert_to_builtin_plugin_version_too_old"
	CodeOnPremise              = "on_premise_app"
	CodeTooManyRequests        = "too_many_requests"
	CodeInvalidJSONParse       = "invalid_json_parse_body"
	CodeInvalidJSONBody        = "invalid_json_body"
	CodeMissingDeviceID        = "missing_device_id"
	CodeMissingAppID           = "missing_app_id"
	CodeSemverError            = "semver_error"
	CodeBodyTooLarge           = "body_too_large"
	CodeUnknownError           = "unknown_error"
	CodeMissingChannel         = "missing_channel"
	CodeChannelNotFound        = "channel_not_found"
	CodePublicChannelSelfSet   = "public_channel_self_set_not_allowed"
	CodeChannelSelfSetNotAllow = "channel_self_set_not_allowed"
	CodeCannotOverride         = "cannot_override"
	CodeMixedAppIDs            = "mixed_app_ids"
)

// Kinds of a refusal, as Gen N plugins classify answers.
const (
	KindUpToDate = "up_to_date"
	KindBlocked  = "blocked"
	KindFailed   = "failed"
)

// kindOf returns the kind the backend attaches to code (getUpdateResponseKind).
func kindOf(code string) string {
	switch code {
	case CodeNoNewVersion, CodeAlreadyOnBuiltin:
		return KindUpToDate
	case CodePrivateChannel, CodeDisabledPlatform + "ios", CodeDisabledPlatform + "android",
		CodeDisabledPlatform + "electron", CodeDisableMajor, CodeDisableMinor, CodeDisablePatch,
		CodeDisableMetadata, CodeDisableUnderNative, CodeDisableProd, CodeDisableDev,
		CodeDisableDevice, CodeDisableEmulator, CodeKeyIDMismatch:
		return KindBlocked
	}
	return KindFailed
}

// Fixed messages, byte for byte as Capgo's backend sends them.
var messages = map[string]string{
	CodeNoChannel:                     "no default channel or override",
	CodeNoBundle:                      "Cannot get bundle",
	CodeKeyIDMismatch:                 "Device encryption key does not match bundle encryption key. The device may have a different public key than the one used to encrypt this bundle.",
	CodeNoNewVersion:                  "No new version available",
	CodeDisabledPlatform + "ios":      "Cannot update, ios it's disabled",
	CodeDisabledPlatform + "android":  "Cannot update, android is disabled",
	CodeDisabledPlatform + "electron": "Cannot update, electron is disabled",
	CodeDisableMajor:                  "Cannot upgrade major version",
	CodeDisableMinor:                  "Cannot upgrade minor version",
	CodeDisablePatch:                  "Cannot upgrade patch version",
	CodeDisableMetadata:               "Cannot upgrade version, min update version > current version",
	CodeDisableUnderNative:            "Cannot revert under native version",
	CodeDisableProd:                   "Cannot update, prod build is disabled",
	CodeDisableDev:                    "Cannot update, dev build is disabled",
	CodeDisableDevice:                 "Cannot update, device is disabled",
	CodeDisableEmulator:               "Cannot update, emulator is disabled",
	CodeAlreadyOnBuiltin:              "Already on builtin",
	CodeRevertTooOld:                  "revert_to_builtin used, but plugin version is too old",
	CodeOnPremise:                     "On-premise app detected",
	CodeTooManyRequests:               "Too many requests",
	CodeInvalidJSONParse:              "Invalid JSON body",
	CodeInvalidJSONBody:               "Cannot parse body",
	CodeMissingDeviceID:               "Cannot find device_id",
	CodeMissingAppID:                  "Cannot find app_id",
	CodeBodyTooLarge:                  "Request body is too large",
	CodeUnknownError:                  "Unknown error",
	CodeMissingChannel:                "Cannot find channel in body",
	CodeChannelNotFound:               "Cannot find channel",
	CodePublicChannelSelfSet:          "This channel is public and does not allow device self-assignment. Unset the channel and the device will automatically use the public channel.",
	CodeChannelSelfSetNotAllow:        "This channel does not allow devices to self associate",
	CodeCannotOverride:                "Cannot change device override current channel don't allow it",
	CodeMixedAppIDs:                   "All events of a batch must have the same app_id",
	CodeSemverError + ":prefix":       "Native version: ",
	CodeSemverError + ":suffix":       " doesn't follow semver convention, please check https://capgo.app/semver_tester/ to learn more about semver usage in Capgo",
	CodeUnsupportedPlugin + ":prefix": "Plugin version ",
	CodeUnsupportedPlugin + ":suffix": " (v4) is no longer supported. Please upgrade to v5.10.0 or later.",
	CodeMisconfigured + ":prefix":     "Channel ",
	CodeMisconfigured + ":suffix":     " is misconfigured",
	CodeKeyIDMismatch + ":unrecorded": "This bundle is encrypted and the device sent no key_id: record the key its app binary carries with `capstatic channel set --device-key`.",
	CodeKeyIDMismatch + ":encoding":   "This bundle was imported with a checksum encoding this plugin version cannot read (V3 hex for plugins from x.30, V2 base64 before): publish it again with capstatic, or import it with the other encoding.",
	CodePrivateChannel + ":prefix":    "Cannot update via a private channel. The channel \"",
	CodePrivateChannel + ":with":      "\" does not allow device self-assignment. Please ensure your defaultChannel \"",
	CodePrivateChannel + ":with_end":  "\" has \"Allow devices to self dissociate/associate\" set to true.",
	CodePrivateChannel + ":without":   "\" does not allow device self-assignment. Please set a defaultChannel with \"Allow devices to self dissociate/associate\" enabled.",
}

// semverMessage is the semver_error text for native version v.
func semverMessage(v string) string {
	return messages[CodeSemverError+":prefix"] + v + messages[CodeSemverError+":suffix"]
}
