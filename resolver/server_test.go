package resolver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/resolver"
)

// treeFS publishes a state into an in-memory tree (pointer, state) the way
// the publisher lays it out.
func treeFS(t *testing.T, st *manifest.State) fstest.MapFS {
	t.Helper()
	st.Seq = 1
	raw, err := manifest.EncodeState(st)
	require.NoError(t, err)
	p := &manifest.Pointer{Format: manifest.FormatVersion, App: st.App, Seq: 1, State: manifest.Sum(raw), StateSize: int64(len(raw))}
	ptr, err := manifest.EncodePointer(p)
	require.NoError(t, err)
	return fstest.MapFS{
		manifest.PointerPath(st.App):        {Data: ptr},
		manifest.StatePath(st.App, p.State): {Data: raw},
	}
}

// serveState starts a resolver over st on a real loopback server.
func serveState(t *testing.T, st *manifest.State, cfg resolver.Config) string {
	t.Helper()
	cfg.Catalog = resolver.NewCatalog(resolver.FS(treeFS(t, st)), resolver.URLs{Files: "http://cdn/f", Builtin: "http://r/builtin"}, nil)
	srv := httptest.NewServer(resolver.NewServer(cfg))
	t.Cleanup(srv.Close)
	return srv.URL
}

func call(t *testing.T, method, url string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, bytes.NewReader(body))
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	raw, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(raw, &m), "%s %s answered %s", method, url, raw)
	return resp.StatusCode, m
}

// channelState: production (public, default), beta (self-assignable),
// locked (private, not self-assignable).
func channelState() *manifest.State {
	return newState().channel("production", bundleRec("1.0.1"), nil).
		channel("beta", bundleRec("1.0.2"), func(c *manifest.Channel) { c.Settings.AllowSelfSet = true }).
		channel("locked", bundleRec("1.0.3"), nil).defaults("production", "android", "ios").st
}

func withChannel(edit map[string]any, ch string) []byte {
	if edit == nil {
		edit = map[string]any{}
	}
	edit["channel"] = ch
	return request(edit)
}

func TestChannelSelf_Set(t *testing.T) {
	devices, err := resolver.OpenDeviceStore(filepath.Join(t.TempDir(), "devices.json"), 10)
	require.NoError(t, err)
	base := serveState(t, channelState(), resolver.Config{Devices: devices})
	cases := []struct {
		name   string
		body   []byte
		want   map[string]any
		stored string
	}{
		{"N validates only", withChannel(nil, "beta"), map[string]any{"status": "ok", "allowSet": true}, ""},
		{"unknown channel", withChannel(nil, "nope"), map[string]any{"error": "channel_not_found", "message": "Cannot find channel", "channel": "nope", "app_id": testApp}, ""},
		{"private channel", withChannel(nil, "locked"), map[string]any{"error": "channel_self_set_not_allowed", "message": "This channel does not allow devices to self associate"}, ""},
		{"public channel", withChannel(nil, "production"), map[string]any{"error": "public_channel_self_set_not_allowed", "message": "This channel is public and does not allow device self-assignment. Unset the channel and the device will automatically use the public channel."}, ""},
		{"missing channel", request(nil), map[string]any{"error": "missing_channel", "message": "Cannot find channel in body"}, ""},
		{"6.20.0 stores on the server", withChannel(map[string]any{"plugin_version": "6.20.0"}, "beta"), map[string]any{"status": "ok"}, "beta"},
		{"legacy stores on the server", withChannel(map[string]any{"plugin_version": "10.0.0", "defaultChannel": nil}, "beta"), map[string]any{"status": "ok"}, "beta"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			devices.Delete(testApp, deviceA)
			status, got := call(t, http.MethodPost, base+"/channel_self", tc.body)
			assert.Equal(t, http.StatusOK, status)
			assert.Equal(t, tc.want, got)
			stored, _ := devices.Lookup(testApp, deviceA)
			assert.Equal(t, tc.stored, stored, "stored override")
		})
	}
	t.Run("stored override steers updates and PUT", func(t *testing.T) {
		legacy := map[string]any{"plugin_version": "10.0.0", "defaultChannel": nil}
		_, got := call(t, http.MethodPost, base+"/channel_self", withChannel(legacy, "beta"))
		require.Equal(t, "ok", got["status"])
		_, got = call(t, http.MethodPost, base+"/updates", request(legacy))
		assert.Equal(t, "1.0.2", got["version"])
		_, got = call(t, http.MethodPut, base+"/channel_self", request(legacy))
		assert.Equal(t, map[string]any{"channel": "beta", "status": "override", "allowSet": true}, got)
		_, got = call(t, http.MethodDelete, base+"/channel_self?app_id="+testApp+"&device_id="+deviceA+
			"&version_build=1.0.0&plugin_version=10.0.0&platform=android&version_name=builtin", nil)
		assert.Equal(t, map[string]any{"status": "ok"}, got)
		_, got = call(t, http.MethodPost, base+"/updates", request(legacy))
		assert.Equal(t, "1.0.1", got["version"], "after unset the platform default applies")
	})
}

func TestChannelSelf_GetAndList(t *testing.T) {
	base := serveState(t, channelState(), resolver.Config{})
	_, got := call(t, http.MethodPut, base+"/channel_self", request(nil))
	assert.Equal(t, map[string]any{"channel": "production", "status": "default", "allowSet": false}, got)
	_, got = call(t, http.MethodPut, base+"/channel_self", request(map[string]any{"defaultChannel": "beta"}))
	assert.Equal(t, map[string]any{"channel": "beta", "status": "override", "allowSet": true}, got, "a resolvable defaultChannel")
	status, got := call(t, http.MethodPut, base+"/channel_self", request(map[string]any{"defaultChannel": "locked"}))
	assert.Equal(t, http.StatusBadRequest, status, "never a fixed name: an unresolvable channel is channel_not_found")
	assert.Equal(t, "channel_not_found", got["error"])

	resp, err := http.Get(base + "/channel_self?app_id=" + testApp + "&device_id=" + deviceA +
		"&version_build=1.0.0&plugin_version=8.51.23&platform=ios&version_name=builtin&is_emulator=false&is_prod=true")
	require.NoError(t, err)
	defer resp.Body.Close()
	var list []map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&list))
	names := []string{}
	for _, c := range list {
		names = append(names, c["name"].(string))
	}
	assert.Equal(t, []string{"production", "beta"}, names, "public or self-assignable channels, by id")
}

// lockedBuffer collects sink output safely.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestStats_Sink(t *testing.T) {
	var out lockedBuffer
	sink := resolver.NewSink(resolver.NewLineWriter(&out), 100)
	base := serveState(t, channelState(), resolver.Config{Sink: sink})
	ev := func(action string) map[string]any {
		return map[string]any{"app_id": testApp, "device_id": strings.ToUpper(deviceA), "action": action,
			"version_name": "builtin", "version_build": "1.0.0", "platform": "android", "is_emulator": false, "is_prod": true}
	}
	body, _ := json.Marshal(ev("set"))
	status, got := call(t, http.MethodPost, base+"/stats", body)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, map[string]any{"status": "ok"}, got)
	body, _ = json.Marshal([]any{ev("download_complete"), ev("session_key_required")})
	_, got = call(t, http.MethodPost, base+"/stats", body)
	assert.Len(t, got["results"], 2)
	sink.Close()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	require.Len(t, lines, 3, "one JSON line per event: %s", out.String())
	var e resolver.Event
	require.NoError(t, json.Unmarshal([]byte(lines[2]), &e))
	assert.Equal(t, "session_key_required", e.Action, "any action string is accepted")
	assert.Equal(t, deviceA, e.DeviceID, "device ids are lower-cased")
	assert.Equal(t, "1.0.0", e.VersionName, "builtin is reported as the native version")
}

func TestStats_FullQueueDropsWithoutBlocking(t *testing.T) {
	sink := resolver.NewSink(stallWriter{make(chan struct{})}, 2)
	base := serveState(t, channelState(), resolver.Config{Sink: sink})
	body, _ := json.Marshal(map[string]any{"app_id": testApp, "device_id": deviceA, "action": "set"})
	start := time.Now()
	const sent = 400
	for range sent {
		status, _ := call(t, http.MethodPost, base+"/stats", body)
		require.Equal(t, http.StatusOK, status)
	}
	assert.Less(t, time.Since(start), 20*time.Second, "answers never wait for the sink")
	// At most one batch (256) and the queue (2) are held while the writer stalls.
	assert.GreaterOrEqual(t, sink.Dropped(), int64(sent-256-2-1), "a full queue drops and counts")
}

func TestOverrideFile_Reload(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "overrides.txt")
	require.NoError(t, os.WriteFile(path, []byte(testApp+" "+deviceA+" beta\n"), 0o644))
	of, err := resolver.OpenOverrideFile(path, nil)
	require.NoError(t, err)
	ctx, cancel := contextWithCancel(t)
	defer cancel()
	go of.Watch(ctx)
	time.Sleep(100 * time.Millisecond) // let the watcher start
	base := serveState(t, channelState(), resolver.Config{Overrides: resolver.Overrides{File: of}})
	version := func() any { _, got := call(t, http.MethodPost, base+"/updates", request(nil)); return got["version"] }
	assert.Equal(t, "1.0.2", version())

	require.NoError(t, os.WriteFile(path, []byte("this is not an override file\n"), 0o644))
	time.Sleep(300 * time.Millisecond)
	assert.Equal(t, "1.0.2", version(), "a malformed file keeps the previous overrides")

	tmp := filepath.Join(dir, "new")
	require.NoError(t, os.WriteFile(tmp, []byte("# moved to locked\n"+testApp+" "+strings.ToUpper(deviceA)+" locked\n"), 0o644))
	require.NoError(t, os.Rename(tmp, path))
	require.Eventually(t, func() bool { return version() == "1.0.3" }, 5*time.Second, 50*time.Millisecond,
		"a file replaced by rename is reloaded")
}

func TestParseOverrides_Errors(t *testing.T) {
	for _, bad := range []string{
		"com.example.app only-two",
		"com.example.app not-a-uuid beta",
		"../etc " + deviceA + " beta",
		"com.example.app " + deviceA + " bad/channel",
	} {
		_, err := resolver.ParseOverrides([]byte("# ok\n" + bad + "\n"))
		assert.ErrorContains(t, err, "line 2", "ParseOverrides(%q)", bad)
	}
}

// stallWriter blocks every batch until its context ends.
type stallWriter struct{ never chan struct{} }

func (s stallWriter) Write(ctx context.Context, _ []resolver.Event) error {
	select {
	case <-s.never:
	case <-ctx.Done():
	}
	return ctx.Err()
}

func contextWithCancel(t *testing.T) (context.Context, context.CancelFunc) {
	return context.WithCancel(context.Background())
}

// TestStats_UnknownAppBatch: an array always gets 200 with per-index
// results (answer-features.md), so an unknown app is reported per event.
func TestStats_UnknownAppBatch(t *testing.T) {
	base := serveState(t, channelState(), resolver.Config{})
	ev := map[string]any{"app_id": "com.unknown.app", "device_id": deviceA, "action": "set"}
	body, _ := json.Marshal([]any{ev, ev})
	status, got := call(t, http.MethodPost, base+"/stats", body)
	assert.Equal(t, http.StatusOK, status)
	require.Len(t, got["results"], 2)
	for i, r := range got["results"].([]any) {
		assert.Equal(t, "on_premise_app", r.(map[string]any)["error"], "results[%d]", i)
	}
	body, _ = json.Marshal(ev)
	status, got = call(t, http.MethodPost, base+"/stats", body)
	assert.Equal(t, http.StatusTooManyRequests, status, "a single event for an unknown app is a 429")
	assert.Equal(t, "on_premise_app", got["error"])
}
