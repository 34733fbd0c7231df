package main

// Bad-input tests of the plugin endpoints over real HTTP against
// Run("serve"): whatever a device (or anything else) posts, the answer is
// JSON with "error" and "message", never a 5xx, never a hang.
//
// The corpus lives in testdata/badinput/<endpoint>/: NAME.body is the raw
// request body and NAME.want holds "STATUS CODE" (e.g. "400
// invalid_json_parse_body"), optionally followed by a line with the exact
// message. Bodies are POSTed; under channel_self a name starting with
// "put_" or "delete_" selects that method.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// badWant is a parsed NAME.want file.
type badWant struct {
	status  int
	code    string
	message string // "" means any non-empty message
}

func badReadWant(t *testing.T, file string) badWant {
	t.Helper()
	raw, err := os.ReadFile(file)
	require.NoError(t, err)
	first, message, _ := strings.Cut(strings.TrimRight(string(raw), "\n"), "\n")
	status, code, ok := strings.Cut(first, " ")
	n, err := strconv.Atoi(status)
	require.True(t, ok && err == nil && code != "", "%s: want \"STATUS CODE\", got %q", file, first)
	return badWant{status: n, code: code, message: message}
}

// badServer serves a tree holding com.example.app (channel production,
// public, not self-assignable) with Run("serve").
func badServer(t *testing.T) string {
	t.Helper()
	tree := t.TempDir()
	devPublish(t, tree, "1.0.0", "production", devFast)
	return devServe(t, tree)
}

// badAnswer is a decoded answer.
type badAnswer struct {
	status int
	header http.Header
	m      map[string]json.RawMessage
}

// badDo sends body and decodes the answer. Decoding failure is a test
// failure: every answer must be a JSON object.
func badDo(t *testing.T, method, url string, body []byte) badAnswer {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	require.NoError(t, err, "%s %s (no answer, or a hang)", method, url)
	defer resp.Body.Close()
	var raw bytes.Buffer
	_, err = raw.ReadFrom(resp.Body)
	require.NoError(t, err)
	assert.Less(t, resp.StatusCode, 500, "never a 5xx: %s", raw.Bytes())
	assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), "Content-Type")
	var m map[string]json.RawMessage
	require.NoError(t, json.Unmarshal(raw.Bytes(), &m), "answer is not a JSON object: %q", raw.Bytes())
	return badAnswer{resp.StatusCode, resp.Header, m}
}

// badString returns the string value of key, failing when it is absent or
// not a string.
func badString(t *testing.T, m map[string]json.RawMessage, key string) string {
	t.Helper()
	var s string
	raw, ok := m[key]
	if !assert.True(t, ok, "answer has no %q: %v", key, m) {
		return ""
	}
	assert.NoError(t, json.Unmarshal(raw, &s), "%q is not a string: %s", key, raw)
	return s
}

// badCheck asserts the shape every refusal must have.
func badCheck(t *testing.T, want badWant, a badAnswer) {
	t.Helper()
	m := a.m
	assert.Equal(t, want.status, a.status, "status; answer %v", m)
	assert.Equal(t, want.code, badString(t, m, "error"), "error")
	msg := badString(t, m, "message")
	assert.NotEmpty(t, msg, "message")
	if want.message != "" {
		assert.Equal(t, want.message, msg, "message")
	}
	if want.code == "on_premise_app" {
		assert.NotContains(t, m, "kind", "on_premise_app carries no kind")
		assert.Equal(t, "On-premise app detected", msg)
		assert.Empty(t, a.header.Get("Retry-After"), "on_premise_app carries no Retry-After")
	}
}

// TestBadInput_Corpus posts every case of testdata/badinput.
func TestBadInput_Corpus(t *testing.T) {
	t.Parallel()
	base := badServer(t)
	for _, ep := range []string{"updates", "stats", "channel_self"} {
		bodies, err := filepath.Glob(filepath.Join("testdata", "badinput", ep, "*.body"))
		require.NoError(t, err)
		require.NotEmpty(t, bodies, "cases for /%s", ep)
		for _, file := range bodies {
			name := strings.TrimSuffix(filepath.Base(file), ".body")
			t.Run(ep+"/"+name, func(t *testing.T) {
				t.Parallel()
				body, err := os.ReadFile(file)
				require.NoError(t, err)
				want := badReadWant(t, strings.TrimSuffix(file, ".body")+".want")
				method := http.MethodPost
				switch {
				case ep == "channel_self" && strings.HasPrefix(name, "put_"):
					method = http.MethodPut
				case ep == "channel_self" && strings.HasPrefix(name, "delete_"):
					method = http.MethodDelete
				}
				badCheck(t, want, badDo(t, method, base+"/"+ep, body))
			})
		}
	}
}

// badInfo is a valid request body of an 8.51.23 Android device, with extra
// keys merged in.
func badInfo(extra map[string]any) map[string]any {
	m := map[string]any{"platform": "android", "device_id": "7d2c1f2e-3b4a-4c5d-8e9f-0a1b2c3d4e5f",
		"app_id": devApp, "custom_id": "", "version_build": "1.0.0", "version_code": "1", "version_os": "14",
		"version_name": "builtin", "plugin_version": "8.51.23", "is_emulator": false, "is_prod": true,
		"defaultChannel": ""}
	for k, v := range extra {
		m[k] = v
	}
	return m
}

func badJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestBadInput_BodyTooLarge: bodies over the limits get 413 body_too_large
// (answer-features.md: ≥ 256 KiB for /updates and /channel_self, ≥ 1 MiB
// for /stats), and a 1 MiB stats batch is still accepted.
func TestBadInput_BodyTooLarge(t *testing.T) {
	t.Parallel()
	base := badServer(t)
	padded := func(n int) []byte {
		return badJSON(t, badInfo(map[string]any{"channel": "beta", "padding": strings.Repeat("x", n)}))
	}
	for _, tc := range []struct {
		name, method, path string
		body               []byte
	}{
		{"updates", http.MethodPost, "/updates", padded(300 << 10)},
		{"channel_self", http.MethodPost, "/channel_self", padded(300 << 10)},
		{"channel_self/put", http.MethodPut, "/channel_self", padded(300 << 10)},
		{"stats", http.MethodPost, "/stats", padded(5 << 20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			badCheck(t, badWant{status: http.StatusRequestEntityTooLarge, code: "body_too_large"},
				badDo(t, tc.method, base+tc.path, tc.body))
		})
	}

	t.Run("stats/1MiB-batch", func(t *testing.T) {
		t.Parallel()
		event := map[string]any{"app_id": devApp, "device_id": "7d2c1f2e-3b4a-4c5d-8e9f-0a1b2c3d4e5f",
			"action": "get", "version_name": "1.0.0", "version_build": "1.0.0", "platform": "android",
			"plugin_version": "8.51.23", "metadata": map[string]string{"note": strings.Repeat("y", 64)}}
		events := make([]any, (1<<20)/len(badJSON(t, event))+1)
		for i := range events {
			events[i] = event
		}
		body := badJSON(t, events)
		require.Greater(t, len(body), 1<<20)
		a := badDo(t, http.MethodPost, base+"/stats", body)
		assert.Equal(t, http.StatusOK, a.status, "answer %v", a.m)
		var results []json.RawMessage
		require.NoError(t, json.Unmarshal(a.m["results"], &results))
		assert.Len(t, results, len(events))
	})
}

// TestBadInput_StatsBatch: an invalid event inside a batch gets its own
// error at its index, and the others are accepted.
func TestBadInput_StatsBatch(t *testing.T) {
	t.Parallel()
	base := badServer(t)
	ok := func(action string) map[string]any {
		return map[string]any{"app_id": devApp, "device_id": "7D2C1F2E-3B4A-4C5D-8E9F-0A1B2C3D4E5F",
			"action": action, "version_name": "1.0.0", "version_build": "1.0.0", "platform": "ios",
			"plugin_version": "8.51.23", "is_emulator": false, "is_prod": true}
	}
	noDevice := ok("set")
	delete(noDevice, "device_id")
	wrongType := ok("set")
	wrongType["is_prod"] = "yes"
	otherApp := ok("set")
	otherApp["app_id"] = "com.other.app"
	body := badJSON(t, []any{ok("get"), noDevice, ok("any_action_string"), "not an event", wrongType, 42, ok("set"), otherApp})
	a := badDo(t, http.MethodPost, base+"/stats", body)
	require.Equal(t, http.StatusOK, a.status, "answer %v", a.m)
	assert.Equal(t, "ok", badString(t, a.m, "status"))

	type result struct {
		Status  string `json:"status"`
		Error   string `json:"error,omitempty"`
		Message string `json:"message,omitempty"`
		Index   int    `json:"index"`
	}
	var got []result
	require.NoError(t, json.Unmarshal(a.m["results"], &got), "results %s", a.m["results"])
	bad := func(i int, code string) result {
		return result{Status: "error", Error: code, Index: i}
	}
	want := []result{{Status: "ok", Index: 0}, bad(1, "missing_device_id"), {Status: "ok", Index: 2},
		bad(3, "invalid_json_body"), bad(4, "invalid_json_body"), bad(5, "invalid_json_body"), {Status: "ok", Index: 6},
		bad(7, "mixed_app_ids")}
	for i := range got {
		if got[i].Status == "error" {
			assert.NotEmpty(t, got[i].Message, "results[%d].message", i)
			got[i].Message = ""
		}
	}
	assert.Equal(t, want, got, "per-index results")
}

// TestBadInput_ChannelSelfQuery: DELETE and GET take their parameters from
// the query string; bad ones are refused like bad bodies.
func TestBadInput_ChannelSelfQuery(t *testing.T) {
	t.Parallel()
	base := badServer(t)
	good := "platform=android&device_id=7d2c1f2e-3b4a-4c5d-8e9f-0a1b2c3d4e5f&app_id=" + devApp +
		"&version_build=1.0.0&version_name=builtin&plugin_version=8.51.23&is_emulator=false&is_prod=true"
	for _, tc := range []struct {
		name, method, query string
		want                badWant
	}{
		{"get/none", http.MethodGet, "", badWant{status: 400, code: "missing_device_id"}},
		{"get/bad-platform", http.MethodGet, strings.Replace(good, "android", "symbian", 1), badWant{status: 400, code: "invalid_json_body"}},
		{"get/semver", http.MethodGet, strings.Replace(good, "version_build=1.0.0", "version_build=1.2.3.4", 1), badWant{status: 400, code: "semver_error"}},
		{"get/unknown-app", http.MethodGet, strings.Replace(good, devApp, "com.unknown.app", 1), badWant{status: 429, code: "on_premise_app"}},
		{"delete/no-app", http.MethodDelete, strings.Replace(good, "app_id="+devApp, "", 1), badWant{status: 400, code: "missing_app_id"}},
		{"delete/bad-device", http.MethodDelete, strings.Replace(good, "7d2c1f2e", "zzzz", 1), badWant{status: 400, code: "invalid_json_body"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			badCheck(t, tc.want, badDo(t, tc.method, fmt.Sprintf("%s/channel_self?%s", base, tc.query), nil))
		})
	}
}

// TestBadInput_DeepNesting: JSON nested deeper than the decoder allows,
// but under the size limit, is a parse error, not a crash or a hang.
func TestBadInput_DeepNesting(t *testing.T) {
	t.Parallel()
	base := badServer(t)
	deep := []byte(`{"device_id":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + "}")
	for _, path := range []string{"/updates", "/stats", "/channel_self"} {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			t.Parallel()
			badCheck(t, badWant{status: http.StatusBadRequest, code: "invalid_json_parse_body"},
				badDo(t, http.MethodPost, base+path, deep))
		})
	}
}
