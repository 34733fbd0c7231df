package resolver_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/manifest"
	"github.com/capstatic/capstatic/resolver"
)

// edgeState is an app whose production channel offers 1.0.1 to android
// and ios.
func edgeState(t testing.TB) *manifest.State {
	t.Helper()
	b := newState().channel("production", bundleRec("1.0.1"), nil).defaults("production", "android", "ios")
	require.NoError(t, b.st.Validate())
	return b.st
}

// edgeSource is a tree holding st behind its pointer.
func edgeSource(t testing.TB, st *manifest.State) resolver.Source {
	t.Helper()
	raw, err := manifest.EncodeState(st)
	require.NoError(t, err)
	d := manifest.Sum(raw)
	ptr, err := manifest.EncodePointer(&manifest.Pointer{Format: manifest.FormatVersion, App: st.App, Seq: st.Seq,
		State: d, StateSize: int64(len(raw))})
	require.NoError(t, err)
	return resolver.FS(fstest.MapFS{manifest.PointerPath(st.App): {Data: ptr}, manifest.StatePath(st.App, d): {Data: raw}})
}

// edgeServer serves edgeState with cfg (Catalog and Files are filled in)
// on loopback and returns its base URL.
func edgeServer(t *testing.T, cfg resolver.Config) string {
	t.Helper()
	src := edgeSource(t, edgeState(t))
	cfg.Catalog = resolver.NewCatalog(src, resolver.URLs{Files: "https://cdn.example/t", Builtin: "https://r.example/builtin"}, nil)
	if cfg.Metrics != nil {
		cfg.Catalog.Observe = cfg.Metrics.ObserveReload
	}
	cfg.Files = src
	srv := httptest.NewServer(resolver.NewServer(cfg))
	t.Cleanup(srv.Close)
	return srv.URL
}

// edgeAnswer is one answer read in full.
type edgeAnswer struct {
	status int
	header http.Header
	body   map[string]any
}

// edgePost POSTs body to url with headers given as key, value pairs.
func edgePost(t *testing.T, url string, body []byte, kv ...string) edgeAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(kv); i += 2 {
		req.Header.Set(kv[i], kv[i+1])
	}
	return edgeDo(t, req)
}

func edgeDo(t *testing.T, req *http.Request) edgeAnswer {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	a := edgeAnswer{status: resp.StatusCode, header: resp.Header}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		require.NoError(t, json.Unmarshal(raw, &a.body), "%s %s answered %s", req.Method, req.URL, raw)
	}
	return a
}

// syncBuffer is a log destination safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// lines returns the JSON log lines written so far.
func (s *syncBuffer) lines(t *testing.T) []map[string]any {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m), "log line %s", sc.Bytes())
		out = append(out, m)
	}
	return out
}

func TestServer_RequestID(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	base := edgeServer(t, resolver.Config{Logger: log, Explain: true})

	t.Run("Echoed", func(t *testing.T) {
		a := edgePost(t, base+"/updates", request(nil), resolver.HeaderRequestID, "trace-1.A_b")
		assert.Equal(t, http.StatusOK, a.status)
		assert.Equal(t, "trace-1.A_b", a.header.Get(resolver.HeaderRequestID))
	})
	t.Run("Generated", func(t *testing.T) {
		seen := map[string]bool{}
		for _, sent := range []string{"", "has space", "semi;colon", strings.Repeat("x", 65), "ünïcode"} {
			a := edgePost(t, base+"/updates", request(nil), resolver.HeaderRequestID, sent)
			id := a.header.Get(resolver.HeaderRequestID)
			assert.NotEmpty(t, id, "request id for %q", sent)
			assert.NotEqual(t, sent, id, "request id for %q", sent)
			assert.Regexp(t, `^[a-z0-9]+-[a-z0-9]+$`, id, "request id for %q", sent)
			assert.False(t, seen[id], "id %s given twice", id)
			seen[id] = true
		}
	})
	t.Run("Logged", func(t *testing.T) {
		a := edgePost(t, base+"/updates", request(nil), resolver.HeaderRequestID, "logged-1")
		require.Equal(t, http.StatusOK, a.status)
		var access, explain map[string]any
		for _, l := range logs.lines(t) {
			if l["request_id"] != "logged-1" {
				continue
			}
			switch l["msg"] {
			case "request":
				access = l
			case "update decision":
				explain = l
			}
		}
		require.NotNil(t, explain, "explain line with the request id")
		require.NotNil(t, access, "access line with the request id")
		assert.Equal(t, "DEBUG", access["level"])
		assert.Equal(t, "updates", access["endpoint"])
		assert.Equal(t, "update", access["code"])
		assert.EqualValues(t, 200, access["status"])
	})
	t.Run("NoAddressLogged", func(t *testing.T) {
		logs.mu.Lock()
		defer logs.mu.Unlock()
		assert.NotContains(t, logs.b.String(), "127.0.0.1")
	})
}

func TestServer_AccessLogOnlyAtDebug(t *testing.T) {
	var logs syncBuffer
	log := slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	base := edgeServer(t, resolver.Config{Logger: log})
	a := edgePost(t, base+"/updates", request(nil))
	require.Equal(t, http.StatusOK, a.status)
	for _, l := range logs.lines(t) {
		assert.NotEqual(t, "request", l["msg"], "access line at info: %v", l)
	}
}

// BenchmarkServer_Updates measures one up-to-date update check through the
// whole handler, to show what the middleware, metrics and limiters cost.
func BenchmarkServer_Updates(b *testing.B) {
	src := edgeSource(b, edgeState(b))
	body := request(map[string]any{"version_name": "1.0.1"})
	lots := resolver.Rate{PerSecond: 1e12, Burst: 1 << 30}
	for _, bc := range []struct {
		name     string
		cfg      resolver.Config
		clientID string // sent as X-Request-Id: echoed instead of made
	}{
		{"plain", resolver.Config{}, ""},
		{"metrics", resolver.Config{Metrics: resolver.NewMetrics()}, ""},
		{"metrics+limits", resolver.Config{Metrics: resolver.NewMetrics(), RateIP: lots, RateDevice: lots}, ""},
		{"metrics+limits+client-id", resolver.Config{Metrics: resolver.NewMetrics(), RateIP: lots, RateDevice: lots}, "edge-1"},
	} {
		b.Run(bc.name, func(b *testing.B) {
			cfg := bc.cfg
			cfg.Catalog = resolver.NewCatalog(src, resolver.URLs{Files: "https://cdn.example/t", Builtin: "https://r.example/b"}, nil)
			cfg.Catalog.TTL = 1 << 62
			srv := resolver.NewServer(cfg)
			b.ReportAllocs()
			for b.Loop() {
				r := httptest.NewRequest(http.MethodPost, "/updates", bytes.NewReader(body))
				if bc.clientID != "" {
					r.Header[resolver.HeaderRequestID] = []string{bc.clientID}
				}
				w := httptest.NewRecorder()
				srv.ServeHTTP(w, r)
				if w.Code != http.StatusOK || !bytes.Contains(w.Body.Bytes(), []byte("no_new_version_available")) {
					b.Fatalf("answer %d %s", w.Code, w.Body)
				}
			}
		})
	}
}

// edgeDevice returns the device id number n.
func edgeDevice(n int) string { return fmt.Sprintf("6f1c2d3e-0000-4000-8000-%012d", n) }
