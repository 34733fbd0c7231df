package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
)

// mix names what the device bodies claim: the app, the version the
// production channel offers, and the native (builtin) version below it.
// The defaults are the tree bench/load.sh publishes.
type mix struct {
	app, latest, native string
}

// kind is one class of device in the mix, with the answer the tree gives
// it: the HTTP status and the answer's "error" code ("" is an update).
type kind struct {
	name   string
	share  int // per mille of the bodies
	status int
	code   string
	info   func(m mix, r *rand.Rand) any // a value to marshal, or []byte as is
}

// request is one prepared body and the index of its kind.
type request struct {
	body []byte
	kind int
}

// kinds is the mix of a fleet where most devices already run the latest
// bundle, many still need it, a few run the legacy 10.0.0 plugin (Gen L:
// no defaultChannel key, capgo-protocol.md §1.1), and a few send bodies
// the resolver must refuse with 400. Shares sum to 1000.
var kinds = []kind{
	{"gen-n up to date", 470, http.StatusOK, "no_new_version_available", func(m mix, r *rand.Rand) any {
		return genN(m, r, m.latest)
	}},
	{"gen-n on builtin", 250, http.StatusOK, "", func(m mix, r *rand.Rand) any {
		return genN(m, r, "builtin")
	}},
	{"gen-n on native bundle", 150, http.StatusOK, "", func(m mix, r *rand.Rand) any {
		return genN(m, r, m.native)
	}},
	{"gen-l 10.0.0 on builtin", 50, http.StatusOK, "", func(m mix, r *rand.Rand) any {
		return genL(m, r, "builtin")
	}},
	{"gen-l 10.0.0 up to date", 40, http.StatusOK, "no_new_version_available", func(m mix, r *rand.Rand) any {
		return genL(m, r, m.latest)
	}},
	{"bad: truncated JSON", 10, http.StatusBadRequest, "invalid_json_parse_body", func(m mix, r *rand.Rand) any {
		b, _ := json.Marshal(genN(m, r, m.latest))
		return b[:len(b)/2]
	}},
	{"bad: no device_id", 10, http.StatusBadRequest, "missing_device_id", func(m mix, r *rand.Rand) any {
		i := genN(m, r, m.latest)
		i.DeviceID = ""
		return i
	}},
	{"bad: version_build not semver", 10, http.StatusBadRequest, "semver_error", func(m mix, r *rand.Rand) any {
		i := genN(m, r, "builtin")
		i.VersionBuild = "abc"
		return i
	}},
	{"bad: platform windows", 10, http.StatusBadRequest, "invalid_json_body", func(m mix, r *rand.Rand) any {
		i := genN(m, r, m.latest)
		i.Platform = "windows"
		return i
	}},
}

// info is the body every plugin sends (capgo-protocol.md §1.1).
// DefaultChannel is nil for Gen L, which omits the key.
type info struct {
	AppID          string  `json:"app_id"`
	DeviceID       string  `json:"device_id,omitempty"`
	VersionName    string  `json:"version_name"`
	VersionBuild   string  `json:"version_build"`
	VersionCode    string  `json:"version_code"`
	VersionOS      string  `json:"version_os"`
	PluginVersion  string  `json:"plugin_version"`
	Platform       string  `json:"platform"`
	IsEmulator     bool    `json:"is_emulator"`
	IsProd         bool    `json:"is_prod"`
	CustomID       string  `json:"custom_id"`
	DefaultChannel *string `json:"defaultChannel,omitempty"`
	InstallSource  string  `json:"install_source,omitempty"`
}

var noChannel = ""

// genN is a current-generation device (plugin 8.x) on an Android or iOS
// phone running the bundle named running.
func genN(m mix, r *rand.Rand, running string) *info {
	i := &info{AppID: m.app, DeviceID: uuid(r), VersionName: running, VersionBuild: m.native,
		VersionCode: "1", PluginVersion: "8.51.23", IsProd: true, CustomID: "", DefaultChannel: &noChannel}
	if r.IntN(2) == 0 {
		i.Platform, i.VersionOS, i.InstallSource = "android", "14", "google_play"
	} else {
		i.Platform, i.VersionOS, i.InstallSource = "ios", "17.5", "app_store"
	}
	return i
}

// genL is a device with the legacy 10.0.0 plugin: eleven fields, no
// defaultChannel.
func genL(m mix, r *rand.Rand, running string) *info {
	i := genN(m, r, running)
	i.PluginVersion, i.DefaultChannel, i.InstallSource = "10.0.0", nil, ""
	return i
}

// uuid is a random version 4 UUID in lower case, as Gen N devices send.
func uuid(r *rand.Rand) string {
	hi, lo := r.Uint64(), r.Uint64()
	hi = hi&^0xf000 | 0x4000     // version 4
	lo = lo&^(0xc<<60) | 0x8<<60 // variant 10
	return fmt.Sprintf("%08x-%04x-%04x-%04x-%012x", hi>>32, hi>>16&0xffff, hi&0xffff, lo>>48, lo&0xffffffffffff)
}

// bodies builds n request bodies, each kind in its share, in a seeded
// random order, so the generator only picks bodies[i%n] while running.
func bodies(m mix, n int, seed uint64) ([]request, error) {
	r := rand.New(rand.NewPCG(seed, 0x6c6f6164))
	reqs := make([]request, 0, n)
	for k, kd := range kinds {
		count := max(1, n*kd.share/1000)
		for range count {
			v := kd.info(m, r)
			b, ok := v.([]byte)
			if !ok {
				var err error
				if b, err = json.Marshal(v); err != nil {
					return nil, err
				}
			}
			reqs = append(reqs, request{body: b, kind: k})
		}
	}
	r.Shuffle(len(reqs), func(i, j int) { reqs[i], reqs[j] = reqs[j], reqs[i] })
	return reqs, nil
}
