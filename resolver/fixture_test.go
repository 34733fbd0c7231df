package resolver_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/resolver"
)

const (
	testApp  = "com.example.app"
	deviceA  = "6f1c2d3e-0000-4000-8000-00000000000a"
	keyIDOne = "MIIBCgKCAQEAkeyone00"
	keyIDTwo = "MIIBCgKCAQEAkeytwo00"
)

// bundleRec returns a clear bundle record of version v.
func bundleRec(v string) *manifest.Bundle {
	id := manifest.BundleID(v, manifest.Sum([]byte(v)))
	zip := &manifest.Object{Path: testApp + "/bundles/" + id.String() + "/bundle.zip", Size: 10, SHA256: manifest.Sum([]byte("zip" + v))}
	return &manifest.Bundle{ID: id, Version: v, Size: 10, SHA256: zip.SHA256, CRC32: "0badcafe", Zip: zip,
		Files: []manifest.File{{Name: "index.html", SHA256: manifest.Sum([]byte("index" + v)), Size: 5, Brotli: true,
			Object: manifest.Object{Path: manifest.FilePath(testApp, manifest.Sum([]byte("index"+v)), true), Size: 4}}}}
}

// encryptedRec returns a bundle of version v encrypted for a v2 key and a
// v1 key.
func encryptedRec(v string) *manifest.Bundle {
	b := bundleRec(v)
	b.Zip, b.Files = nil, nil
	base := testApp + "/bundles/" + b.ID.String()
	b.Keys = []manifest.Encryption{
		{Scheme: manifest.SchemeV2, KeyID: keyIDOne, Zip: manifest.Object{Path: base + "/bundle-v2.zip", Size: 16},
			SessionKey: "aXY=:a2V5", ChecksumV3: "v3hex", ChecksumV2: "v2b64"},
		{Scheme: manifest.SchemeV1, KeyID: keyIDTwo, Zip: manifest.Object{Path: base + "/bundle-v1.zip", Size: 16},
			SessionKey: "aXYx:a2V5MQ=="},
	}
	return b
}

type stateBuilder struct{ st *manifest.State }

func newState() *stateBuilder { return &stateBuilder{manifest.NewState(testApp)} }

func (b *stateBuilder) channel(name string, rec *manifest.Bundle, edit func(*manifest.Channel)) *stateBuilder {
	ch := &manifest.Channel{ID: int64(len(b.st.Channels) + 1), Settings: manifest.DefaultSettings()}
	if rec != nil {
		if b.st.Bundles == nil {
			b.st.Bundles = map[string]*manifest.Bundle{}
		}
		b.st.Bundles[rec.ID.String()] = rec
		ch.Target = rec.ID.String()
	}
	if edit != nil {
		edit(ch)
	}
	b.st.Channels[name] = ch
	return b
}

func (b *stateBuilder) defaults(name string, platforms ...string) *stateBuilder {
	if b.st.Defaults == nil {
		b.st.Defaults = map[string]string{}
	}
	for _, p := range platforms {
		b.st.Defaults[p] = name
	}
	return b
}

func (b *stateBuilder) override(device, channel string) *stateBuilder {
	if b.st.Overrides == nil {
		b.st.Overrides = map[string]string{}
	}
	b.st.Overrides[device] = channel
	return b
}

func (b *stateBuilder) app(t *testing.T) *resolver.App {
	t.Helper()
	require.NoError(t, b.st.Validate())
	a, err := resolver.NewApp(b.st, resolver.URLs{Files: "https://cdn.example/t", Builtin: "https://r.example/builtin"})
	require.NoError(t, err)
	return a
}

// request builds an update body: a Gen N android device on builtin with
// native 1.0.0; edit changes fields (nil value deletes a key).
func request(edit map[string]any) []byte {
	m := map[string]any{"app_id": testApp, "device_id": deviceA, "version_name": "builtin",
		"version_build": "1.0.0", "version_code": "1", "version_os": "14", "plugin_version": "8.51.23",
		"platform": "android", "is_emulator": false, "is_prod": true, "defaultChannel": "", "custom_id": ""}
	for k, v := range edit {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return b
}
