package resolver_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/resolver"
)

// decide runs the whole pure path: parse, resolve, encode, decode.
func decide(t *testing.T, a *resolver.App, body []byte, ov resolver.Overrides) (resolver.Decision, map[string]any) {
	t.Helper()
	req, f := resolver.ParseRequest(body)
	require.Nil(t, f, "ParseRequest(%s)", body)
	d := resolver.Resolve(a, req, ov)
	var got map[string]any
	require.NoError(t, json.Unmarshal(a.AppendAnswer(nil, &d, req), &got))
	return d, got
}

// TestResolve_Refusals checks every refusal a static server can produce
// against golden vectors: codes, messages and extra keys copied by hand
// from capgo-protocol.md §1.2, not from the package's constants.
func TestResolve_Refusals(t *testing.T) {
	v101, v200, v090 := bundleRec("1.0.1"), bundleRec("2.0.0"), bundleRec("0.9.0")
	meta := bundleRec("1.1.0")
	meta.MinUpdateVersion = "2.0.0"
	noMeta := bundleRec("1.2.0")
	setting := func(f func(*manifest.Settings)) func(*manifest.Channel) {
		return func(c *manifest.Channel) { f(&c.Settings) }
	}
	cases := []struct {
		name  string
		state *stateBuilder
		edit  map[string]any
		want  map[string]any
	}{
		{"unsupported plugin v4", newState().channel("production", v101, nil).defaults("production", "android"),
			map[string]any{"plugin_version": "4.13.0"},
			map[string]any{"error": "unsupported_plugin_version", "message": "Plugin version 4.13.0 (v4) is no longer supported. Please upgrade to v5.10.0 or later.", "kind": "failed"}},
		{"no channel: no default", newState().channel("beta", v101, nil), nil,
			map[string]any{"error": "no_channel", "message": "no default channel or override", "kind": "failed"}},
		{"no channel: unknown defaultChannel, no fallback", newState().channel("production", v101, nil).defaults("production", "android"),
			map[string]any{"defaultChannel": "nope"},
			map[string]any{"error": "no_channel", "message": "no default channel or override", "kind": "failed"}},
		{"no channel: private defaultChannel", newState().channel("production", v101, nil).channel("qa", v101, nil).defaults("production", "android"),
			map[string]any{"defaultChannel": "qa"},
			map[string]any{"error": "no_channel", "message": "no default channel or override", "kind": "failed"}},
		{"no channel: default has platform off", newState().channel("production", v101, setting(func(s *manifest.Settings) { s.Android = false })).defaults("production", "ios"),
			nil, map[string]any{"error": "no_channel", "message": "no default channel or override", "kind": "failed"}},
		{"no bundle", newState().channel("production", nil, nil).defaults("production", "android"), nil,
			map[string]any{"error": "no_bundle", "message": "Cannot get bundle", "kind": "failed"}},
		{"key id mismatch", newState().channel("production", encryptedRec("1.0.1"), nil).defaults("production", "android"),
			map[string]any{"key_id": "MIIBCgKCAQEAother000"},
			map[string]any{"error": "key_id_mismatch", "message": "Device encryption key does not match bundle encryption key. The device may have a different public key than the one used to encrypt this bundle.",
				"deviceKeyId": "MIIBCgKCAQEAother000", "bundleKeyId": keyIDOne, "kind": "blocked"}},
		{"key id on a clear bundle", newState().channel("production", v101, nil).defaults("production", "android"),
			map[string]any{"key_id": keyIDOne},
			map[string]any{"error": "key_id_mismatch", "message": "Device encryption key does not match bundle encryption key. The device may have a different public key than the one used to encrypt this bundle.",
				"deviceKeyId": keyIDOne, "bundleKeyId": "", "kind": "blocked"}},
		{"no new version", newState().channel("production", v101, nil).defaults("production", "android"),
			map[string]any{"version_name": "1.0.1"},
			map[string]any{"error": "no_new_version_available", "message": "No new version available", "kind": "up_to_date"}},
		{"no new version: builtin named like native", newState().channel("production", v101, nil).defaults("production", "android"),
			map[string]any{"version_build": "1.0.1"},
			map[string]any{"error": "no_new_version_available", "message": "No new version available", "kind": "up_to_date"}},
		{"kill switch", newState().channel("production", v101, setting(func(s *manifest.Settings) { s.Disabled = true })).defaults("production", "android"),
			nil, map[string]any{"error": "no_new_version_available", "message": "No new version available", "kind": "up_to_date"}},
		{"disabled platform ios", newState().channel("production", v101, nil).channel("beta", v101, setting(func(s *manifest.Settings) { s.IOS = false })).defaults("production", "ios").override(deviceA, "beta"),
			map[string]any{"platform": "ios", "version_name": "1.0.0"},
			map[string]any{"error": "disabled_platform_ios", "message": "Cannot update, ios it's disabled", "version": "1.0.1", "old": "1.0.0", "kind": "blocked"}},
		{"disabled platform android", newState().channel("beta", v101, setting(func(s *manifest.Settings) { s.Android = false })).override(deviceA, "beta"),
			nil, map[string]any{"error": "disabled_platform_android", "message": "Cannot update, android is disabled", "version": "1.0.1", "old": "1.0.0", "kind": "blocked"}},
		{"disabled platform electron", newState().channel("beta", v101, setting(func(s *manifest.Settings) { s.Electron = false })).override(deviceA, "beta"),
			map[string]any{"platform": "electron"},
			map[string]any{"error": "disabled_platform_electron", "message": "Cannot update, electron is disabled", "version": "1.0.1", "old": "1.0.0", "kind": "blocked"}},
		{"major", newState().channel("production", v200, nil).defaults("production", "android"), nil,
			map[string]any{"error": "disable_auto_update_to_major", "message": "Cannot upgrade major version", "major": true, "version": "2.0.0", "old": "1.0.0", "kind": "blocked"}},
		{"minor", newState().channel("production", bundleRec("1.1.0"), setting(func(s *manifest.Settings) { s.DisableAutoUpdate = "minor" })).defaults("production", "android"), nil,
			map[string]any{"error": "disable_auto_update_to_minor", "message": "Cannot upgrade minor version", "major": true, "version": "1.1.0", "old": "1.0.0", "kind": "blocked"}},
		{"patch", newState().channel("production", v101, setting(func(s *manifest.Settings) { s.DisableAutoUpdate = "patch" })).defaults("production", "android"), nil,
			map[string]any{"error": "disable_auto_update_to_patch", "message": "Cannot upgrade patch version", "major": true, "version": "1.0.1", "old": "1.0.0", "kind": "blocked"}},
		{"misconfigured", newState().channel("production", noMeta, setting(func(s *manifest.Settings) { s.DisableAutoUpdate = "metadata" })).defaults("production", "android"), nil,
			map[string]any{"error": "misconfigured_channel", "message": "Channel production is misconfigured", "version": "1.2.0", "old": "1.0.0", "kind": "failed"}},
		{"metadata", newState().channel("production", meta, setting(func(s *manifest.Settings) { s.DisableAutoUpdate = "metadata" })).defaults("production", "android"), nil,
			map[string]any{"error": "disable_auto_update_to_metadata", "message": "Cannot upgrade version, min update version > current version", "major": true, "version": "1.1.0", "old": "1.0.0", "kind": "blocked"}},
		{"under native", newState().channel("production", v090, nil).defaults("production", "android"), nil,
			map[string]any{"error": "disable_auto_update_under_native", "message": "Cannot revert under native version", "version": "0.9.0", "old": "1.0.0", "kind": "blocked"}},
		{"prod build", newState().channel("production", v101, setting(func(s *manifest.Settings) { s.AllowProd = false })).defaults("production", "android"), nil,
			map[string]any{"error": "disable_prod_build", "message": "Cannot update, prod build is disabled", "version": "1.0.1", "old": "1.0.0", "kind": "blocked"}},
		{"dev build", newState().channel("production", v101, setting(func(s *manifest.Settings) { s.AllowDev = false })).defaults("production", "android"),
			map[string]any{"is_prod": false},
			map[string]any{"error": "disable_dev_build", "message": "Cannot update, dev build is disabled", "version": "1.0.1", "old": "1.0.0", "kind": "blocked"}},
		{"device", newState().channel("production", v101, setting(func(s *manifest.Settings) { s.AllowDevice = false })).defaults("production", "android"), nil,
			map[string]any{"error": "disable_device", "message": "Cannot update, device is disabled", "version": "1.0.1", "old": "1.0.0", "kind": "blocked"}},
		{"emulator", newState().channel("production", v101, setting(func(s *manifest.Settings) { s.AllowEmulator = false })).defaults("production", "android"),
			map[string]any{"is_emulator": true},
			map[string]any{"error": "disable_emulator", "message": "Cannot update, emulator is disabled", "version": "1.0.1", "old": "1.0.0", "kind": "blocked"}},
		{"already on builtin", newState().channel("production", nil, func(c *manifest.Channel) { c.Target = "builtin" }).defaults("production", "android"), nil,
			map[string]any{"error": "already_on_builtin", "message": "Already on builtin", "kind": "up_to_date"}},
		{"revert too old", newState().channel("production", nil, func(c *manifest.Channel) { c.Target = "builtin" }).defaults("production", "android"),
			map[string]any{"plugin_version": "6.1.9", "version_name": "1.0.3"},
			map[string]any{"error": "revert_to_builtin_plugin_version_too_old", "message": "revert_to_builtin used, but plugin version is too old", "kind": "failed"}},
		{"revert legacy", newState().channel("production", nil, func(c *manifest.Channel) { c.Target = "builtin" }).defaults("production", "android"),
			map[string]any{"plugin_version": "10.0.0", "version_name": "1.0.3", "defaultChannel": nil},
			map[string]any{"error": "revert_to_builtin_plugin_version_too_old", "message": "revert_to_builtin used, but plugin version is too old", "kind": "failed"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got := decide(t, tc.state.app(t), request(tc.edit), resolver.Overrides{})
			assert.Equal(t, tc.want, got, "answer to %s", tc.name)
		})
	}
}

func TestResolve_Updates(t *testing.T) {
	v101 := bundleRec("1.0.1")
	v101.Link, v101.Comment = "https://example.com/notes", "fixes"
	a := newState().channel("production", v101, nil).defaults("production", "android", "ios").
		channel("builtin-ch", nil, func(c *manifest.Channel) { c.Target = "builtin"; c.Settings.AllowSelfSet = true }).app(t)
	zipURL := "https://cdn.example/t/" + v101.Zip.Path
	entry := map[string]any{"file_name": "index.html.br", "file_hash": v101.Files[0].SHA256.String(),
		"download_url": "https://cdn.example/t/" + v101.Files[0].Object.Path}
	cases := []struct {
		name string
		edit map[string]any
		want map[string]any
	}{
		{"N 8.51.23: sha256, manifest, link", nil, map[string]any{"version": "1.0.1", "url": zipURL, "session_key": "",
			"checksum": v101.SHA256.String(), "manifest": []any{entry}, "link": v101.Link, "comment": "fixes"}},
		{"legacy 10.0.0: crc32 only", map[string]any{"plugin_version": "10.0.0", "defaultChannel": nil},
			map[string]any{"version": "1.0.1", "url": zipURL, "session_key": "", "checksum": "0badcafe"}},
		{"genuine 10.0.0 with defaultChannel", map[string]any{"plugin_version": "10.0.0"}, map[string]any{"version": "1.0.1", "url": zipURL, "session_key": "",
			"checksum": v101.SHA256.String(), "manifest": []any{entry}, "link": v101.Link, "comment": "fixes"}},
		{"5.9.5: crc32", map[string]any{"plugin_version": "5.9.5"},
			map[string]any{"version": "1.0.1", "url": zipURL, "session_key": "", "checksum": "0badcafe"}},
		{"6.25.0: sha256 and manifest, no link", map[string]any{"plugin_version": "6.25.0"},
			map[string]any{"version": "1.0.1", "url": zipURL, "session_key": "", "checksum": v101.SHA256.String(), "manifest": []any{entry}}},
		{"7.0.30: sha256, no manifest", map[string]any{"plugin_version": "7.0.30"},
			map[string]any{"version": "1.0.1", "url": zipURL, "session_key": "", "checksum": v101.SHA256.String()}},
		{"7.0.29: crc32", map[string]any{"plugin_version": "7.0.29"},
			map[string]any{"version": "1.0.1", "url": zipURL, "session_key": "", "checksum": "0badcafe"}},
		{"revert to builtin ≥ 6.2.0", map[string]any{"plugin_version": "6.2.0", "defaultChannel": "builtin-ch", "version_name": "1.0.1"},
			map[string]any{"version": "builtin", "url": "https://r.example/builtin", "session_key": "", "checksum": ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, got := decide(t, a, request(tc.edit), resolver.Overrides{})
			assert.Equal(t, "", d.Code)
			assert.Equal(t, tc.want, got, "answer for %v", tc.edit)
		})
	}
}

// TestResolve_Encrypted checks the key choice for every way a device can
// hold a key (answer-features.md, key_id rows).
func TestResolve_Encrypted(t *testing.T) {
	rec := encryptedRec("1.0.1")
	build := func(deviceKey string) *resolver.App {
		return newState().channel("production", rec, func(c *manifest.Channel) { c.Settings.DeviceKey = deviceKey }).
			defaults("production", "android").app(t)
	}
	v2URL := "https://cdn.example/t/" + rec.Keys[0].Zip.Path
	v1URL := "https://cdn.example/t/" + rec.Keys[1].Zip.Path
	cases := []struct {
		name, deviceKey string
		edit            map[string]any
		want            map[string]any
	}{
		{"N with key_id: V3", "", map[string]any{"key_id": keyIDOne},
			map[string]any{"version": "1.0.1", "url": v2URL, "session_key": "aXY=:a2V5", "checksum": "v3hex"}},
		{"6.20.0 recorded v2: V2 checksum", "v2:" + keyIDOne, map[string]any{"plugin_version": "6.20.0"},
			map[string]any{"version": "1.0.1", "url": v2URL, "session_key": "aXY=:a2V5", "checksum": "v2b64"}},
		{"legacy recorded v1: crc32", "v1:" + keyIDTwo + ",v2:" + keyIDOne, map[string]any{"plugin_version": "10.0.0", "defaultChannel": nil},
			map[string]any{"version": "1.0.1", "url": v1URL, "session_key": "aXYx:a2V5MQ==", "checksum": "0badcafe"}},
		{"6.10.0 either: first recorded", "v1:" + keyIDTwo, map[string]any{"plugin_version": "6.10.0"},
			map[string]any{"version": "1.0.1", "url": v1URL, "session_key": "aXYx:a2V5MQ==", "checksum": "0badcafe"}},
		{"no key_id, nothing recorded", "", nil,
			map[string]any{"error": "key_id_mismatch", "message": "This bundle is encrypted and the device sent no key_id: record the key its app binary carries with `capstatic channel set --device-key`.",
				"deviceKeyId": "", "bundleKeyId": keyIDOne, "kind": "blocked"}},
		{"legacy with only a v2 record", "v2:" + keyIDOne, map[string]any{"plugin_version": "10.0.0", "defaultChannel": nil},
			map[string]any{"error": "key_id_mismatch", "message": "This bundle is encrypted and the device sent no key_id: record the key its app binary carries with `capstatic channel set --device-key`.",
				"deviceKeyId": "", "bundleKeyId": keyIDOne, "kind": "blocked"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, got := decide(t, build(tc.deviceKey), request(tc.edit), resolver.Overrides{})
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestResolve_OverridePrecedence(t *testing.T) {
	a := newState().channel("production", bundleRec("1.0.1"), nil).channel("beta", bundleRec("1.0.2"), nil).
		channel("alpha", bundleRec("1.0.3"), nil).defaults("production", "android").override(deviceA, "beta").app(t)
	file := resolver.OverrideTable{testApp + " " + deviceA: "alpha"}
	deleted := resolver.OverrideTable{testApp + " " + deviceA: "gone"}
	devices := resolver.OverrideTable{testApp + " " + deviceA: "production"}
	cases := []struct {
		name    string
		ov      resolver.Overrides
		channel string
		via     string
	}{
		{"file wins", resolver.Overrides{File: file, Devices: devices}, "alpha", resolver.ViaFile},
		{"state next", resolver.Overrides{Devices: devices}, "beta", resolver.ViaState},
		{"override to a deleted channel is ignored", resolver.Overrides{File: deleted}, "beta", resolver.ViaState},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, _ := decide(t, a, request(map[string]any{"device_id": "6F1C2D3E-0000-4000-8000-00000000000A"}), tc.ov)
			assert.Equal(t, tc.channel, d.Channel)
			assert.Equal(t, tc.via, d.Via)
		})
	}
}
