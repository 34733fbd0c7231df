package resolver

import (
	"encoding/json"
	"testing"
)

// infoKeys are the keys the scanner decodes, with their JSON types.
var infoKeys = map[string]string{"app_id": "s", "device_id": "s", "custom_id": "s", "platform": "s",
	"version_name": "s", "version_build": "s", "version_code": "s", "version_os": "s", "plugin_version": "s",
	"defaultChannel": "s", "install_source": "s", "key_id": "s", "channel": "s", "is_emulator": "b", "is_prod": "b"}

func (w *wireInfo) get(key string) (any, bool) {
	m := map[string]any{"app_id": w.AppID, "device_id": w.DeviceID, "custom_id": w.CustomID, "platform": w.Platform,
		"version_name": w.VersionName, "version_build": w.VersionBuild, "version_code": w.VersionCode,
		"version_os": w.VersionOS, "plugin_version": w.PluginVersion, "defaultChannel": w.DefaultChannel,
		"install_source": w.InstallSource, "key_id": w.KeyID, "channel": w.Channel, "is_emulator": w.IsEmulator,
		"is_prod": w.IsProd}
	v, ok := m[key]
	return v, ok
}

// FuzzScanInfo checks the scanner against encoding/json: it accepts exactly
// the valid documents, and decodes every known key (exact-case, last one
// wins) to the value encoding/json finds, or flags a type error.
func FuzzScanInfo(f *testing.F) {
	f.Add(`{"app_id":"com.example.app","device_id":"6F1C2D3E-0000-4000-8000-00000000000A","is_prod":true}`)
	f.Add(`{"version_name":"1.0.\u0031","x":[1,{"y":null}],"is_emulator":false,"platform":"a\ud83d\ude00"}`)
	f.Add(`{"key_id":5,"app_id":null}`)
	f.Add(`[1,2]`)
	f.Add(`{"a":1e5,"b":-0.5E-3}`)
	f.Add("{\"app_id\":\"\xff\"}")
	f.Fuzz(func(t *testing.T, body string) {
		var w wireInfo
		typ, err := scanInfo(body, &w)
		if valid := json.Valid([]byte(body)); valid != (err == nil) {
			t.Fatalf("scanInfo(%q) error %v, json.Valid %v", body, err, valid)
		}
		var m map[string]any
		if err != nil || json.Unmarshal([]byte(body), &m) != nil {
			return
		}
		wrongType := false
		for key, kind := range infoKeys {
			v, present := m[key]
			got, _ := w.get(key)
			switch x := v.(type) {
			case string:
				if kind == "s" && got != x {
					t.Fatalf("scanInfo(%q): %s = %q, encoding/json %q", body, key, got, x)
				}
				wrongType = wrongType || kind != "s"
			case bool:
				if kind == "b" && got != x {
					t.Fatalf("scanInfo(%q): %s = %v, encoding/json %v", body, key, got, x)
				}
				wrongType = wrongType || kind != "b"
			case nil:
			default:
				wrongType = wrongType || present
			}
		}
		if wrongType && typ == "" {
			t.Fatalf("scanInfo(%q): no type error reported", body)
		}
	})
}
