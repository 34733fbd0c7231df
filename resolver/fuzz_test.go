package resolver_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/resolver"
)

// fuzzServer is a resolver over a small tree with every kind of channel.
func fuzzServer(t testing.TB) *resolver.Server {
	st := newState().channel("production", bundleRec("1.0.1"), nil).
		channel("beta", encryptedRec("2.0.0"), func(c *manifest.Channel) {
			c.Settings.AllowSelfSet, c.Settings.DeviceKey = true, "v1:"+keyIDTwo
		}).
		channel("revert", nil, func(c *manifest.Channel) { c.Target = "builtin"; c.Settings.AllowSelfSet = true }).
		defaults("production", "android", "ios").st
	cat := resolver.NewCatalog(resolver.FS(treeFS(&testing.T{}, st)), resolver.URLs{Files: "http://cdn/f", Builtin: "http://r/b"}, nil)
	return resolver.NewServer(resolver.Config{Catalog: cat})
}

// checkAnswer asserts the protocol's promises for any input: a known
// status, never a 5xx, and a JSON body; refusals carry error and message.
func checkAnswer(t *testing.T, method, path string, body []byte, rec *httptest.ResponseRecorder) {
	t.Helper()
	switch rec.Code {
	case http.StatusOK, http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusTooManyRequests:
	default:
		t.Fatalf("%s %s %q: status %d", method, path, body, rec.Code)
	}
	var v any
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatalf("%s %s %q: answer is not JSON: %q", method, path, body, rec.Body.Bytes())
	}
	if m, ok := v.(map[string]any); ok && rec.Code != http.StatusOK {
		if _, ok := m["error"].(string); !ok {
			t.Fatalf("%s %s %q: refusal without error: %s", method, path, body, rec.Body.Bytes())
		}
	}
}

func serve(s *resolver.Server, method, path string, body []byte) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	s.ServeHTTP(rec, httptest.NewRequest(method, path, bytes.NewReader(body)))
	return rec
}

func addSeeds(f *testing.F) {
	f.Add(request(nil))
	f.Add(request(map[string]any{"plugin_version": "10.0.0", "defaultChannel": nil}))
	f.Add(request(map[string]any{"defaultChannel": "beta", "key_id": keyIDOne}))
	f.Add(request(map[string]any{"defaultChannel": "revert", "version_name": "1.0.0", "channel": "beta"}))
	f.Add([]byte(`[{"app_id":"com.example.app","device_id":"` + deviceA + `","action":"set"},{}]`))
	f.Add([]byte(`{"app_id":5}`))
	f.Add([]byte(`nul`))
}

// FuzzUpdateBody: any body posted to /updates gets a protocol answer.
func FuzzUpdateBody(f *testing.F) {
	addSeeds(f)
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		checkAnswer(t, "POST", "/updates", body, serve(s, "POST", "/updates", body))
	})
}

// FuzzStatsBody: any body posted to /stats gets a protocol answer; an
// array that is accepted has one result per element.
func FuzzStatsBody(f *testing.F) {
	addSeeds(f)
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		rec := serve(s, "POST", "/stats", body)
		checkAnswer(t, "POST", "/stats", body, rec)
		var arr []json.RawMessage
		if rec.Code == http.StatusOK && json.Unmarshal(body, &arr) == nil {
			var ans struct{ Results []any }
			if json.Unmarshal(rec.Body.Bytes(), &ans) == nil && len(ans.Results) != len(arr) {
				t.Fatalf("stats %q: %d results for %d events", body, len(ans.Results), len(arr))
			}
		}
	})
}

// FuzzChannelSelfBody: any body to every channel_self method gets a
// protocol answer.
func FuzzChannelSelfBody(f *testing.F) {
	addSeeds(f)
	s := fuzzServer(f)
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, m := range []string{"POST", "PUT", "DELETE"} {
			checkAnswer(t, m, "/channel_self", body, serve(s, m, "/channel_self", body))
		}
	})
}

// FuzzParseOverrides: the override file parser never panics, and what it
// accepts survives a round trip through its own format.
func FuzzParseOverrides(f *testing.F) {
	f.Add([]byte("# comment\ncom.example.app " + deviceA + " beta\n"))
	f.Add([]byte("com.example.app\t" + strings.ToUpper(deviceA) + "\tbeta\r\n\n"))
	f.Add([]byte("a.b c d"))
	f.Fuzz(func(t *testing.T, data []byte) {
		tab, err := resolver.ParseOverrides(data)
		if err != nil {
			return
		}
		keys := make([]string, 0, len(tab))
		for k := range tab {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var out bytes.Buffer
		for _, k := range keys {
			fmt.Fprintf(&out, "%s %s\n", k, tab[k])
		}
		again, err := resolver.ParseOverrides(out.Bytes())
		if err != nil || len(again) != len(tab) {
			t.Fatalf("round trip of %q failed: %v", data, err)
		}
		for k, v := range tab {
			if again[k] != v {
				t.Fatalf("round trip of %q: %s → %q, want %q", data, k, again[k], v)
			}
		}
	})
}
