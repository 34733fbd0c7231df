package resolver_test

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/resolver"
)

// collector is a stats collector that fails its first failures POSTs with
// status, then accepts; it records every accepted event line.
type collector struct {
	failures int
	status   int

	mu    sync.Mutex
	posts int
	keys  []string
	types []string
	lines []resolver.Event
}

func (c *collector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.posts++
	c.keys = append(c.keys, r.Header.Get("Idempotency-Key"))
	c.types = append(c.types, r.Header.Get("Content-Type"))
	if c.posts <= c.failures {
		w.WriteHeader(c.status)
		return
	}
	sc := bufio.NewScanner(r.Body)
	for sc.Scan() {
		var e resolver.Event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		c.lines = append(c.lines, e)
	}
	w.WriteHeader(http.StatusNoContent)
}

// newHTTPWriter returns a writer to url with short waits.
func newHTTPWriter(t *testing.T, url string) *resolver.HTTPWriter {
	t.Helper()
	w, err := resolver.NewHTTPWriter(url, nil)
	require.NoError(t, err)
	w.Backoff, w.MaxBackoff = time.Millisecond, 10*time.Millisecond
	return w
}

func statsEvents(n int) []resolver.Event {
	events := make([]resolver.Event, n)
	for i := range events {
		events[i] = resolver.Event{Received: time.Date(2025, 6, 1, 12, 0, 0, i, time.UTC), AppID: testApp,
			DeviceID: edgeDevice(i), Action: "set", VersionName: fmt.Sprintf("1.0.%d", i), Platform: "android"}
	}
	return events
}

func TestHTTPWriter_RetriesThenDelivers(t *testing.T) {
	c := &collector{failures: 2, status: http.StatusServiceUnavailable}
	srv := httptest.NewServer(c)
	t.Cleanup(srv.Close)
	sink := resolver.NewSink(newHTTPWriter(t, srv.URL+"/ingest?token=x"), 100)
	events := statsEvents(10)
	for _, e := range events {
		require.True(t, sink.Offer(e))
	}
	sink.Close()

	c.mu.Lock()
	defer c.mu.Unlock()
	assert.Equal(t, 3, c.posts, "two 503s, then delivered")
	assert.Equal(t, events, c.lines, "each event once, in order")
	assert.Equal(t, []string{c.keys[0], c.keys[0], c.keys[0]}, c.keys, "one Idempotency-Key across retries")
	assert.NotEmpty(t, c.keys[0])
	assert.Equal(t, "application/x-ndjson", c.types[0])
	assert.Equal(t, int64(10), sink.Written())
	assert.Equal(t, int64(0), sink.Dropped())
}

func TestHTTPWriter_Fails(t *testing.T) {
	cases := []struct {
		name      string
		status    int
		wantPosts int
	}{
		{"ServerError", http.StatusBadGateway, resolver.DefaultHTTPAttempts},
		{"TooManyRequests", http.StatusTooManyRequests, resolver.DefaultHTTPAttempts},
		{"Refused", http.StatusForbidden, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &collector{failures: 1 << 30, status: tc.status}
			srv := httptest.NewServer(c)
			t.Cleanup(srv.Close)
			w := newHTTPWriter(t, srv.URL)
			err := w.Write(t.Context(), statsEvents(3))
			require.Error(t, err)
			assert.Contains(t, err.Error(), fmt.Sprint(tc.status))
			c.mu.Lock()
			defer c.mu.Unlock()
			assert.Equal(t, tc.wantPosts, c.posts)
		})
	}
}

func TestHTTPWriter_NetworkError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there now
	w := newHTTPWriter(t, url)
	require.Error(t, w.Write(t.Context(), statsEvents(1)))
}

// TestHTTPWriter_CloseWithinGrace checks that a collector that never
// accepts costs the sink's Close at most ShutdownGrace, and that the
// events are counted as dropped.
func TestHTTPWriter_CloseWithinGrace(t *testing.T) {
	release := make(chan struct{})
	cases := []struct {
		name    string
		handler http.HandlerFunc
	}{
		{"AlwaysFails", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) }},
		{"Hangs", func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body) // else the server cannot see the client leave
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}},
	}
	t.Cleanup(func() { close(release) })
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := httptest.NewServer(tc.handler)
			t.Cleanup(srv.Close)
			w, err := resolver.NewHTTPWriter(srv.URL, nil) // default backoff and timeout
			require.NoError(t, err)
			sink := resolver.NewSink(w, 100)
			for _, e := range statsEvents(20) {
				require.True(t, sink.Offer(e))
			}
			start := time.Now()
			sink.Close()
			assert.Less(t, time.Since(start), resolver.ShutdownGrace+time.Second)
			assert.Equal(t, int64(20), sink.Dropped())
			assert.Equal(t, int64(0), sink.Written())
		})
	}
}

// TestServer_StatsSlowCollector checks that a collector that hangs never
// delays a /stats answer: the sink's queue absorbs the events.
func TestServer_StatsSlowCollector(t *testing.T) {
	posted := make(chan struct{}, 1)
	release := make(chan struct{})
	col := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		select {
		case posted <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(col.Close)
	sink := resolver.NewSink(newHTTPWriter(t, col.URL), 1000)
	base := edgeServer(t, resolver.Config{Sink: sink})

	first := edgePost(t, base+"/stats", request(map[string]any{"action": "set"}))
	require.Equal(t, http.StatusOK, first.status)
	select {
	case <-posted: // the sink is now stuck in a POST
	case <-time.After(5 * time.Second):
		t.Fatal("the sink never posted")
	}
	for i := range 20 {
		start := time.Now()
		a := edgePost(t, base+"/stats", request(map[string]any{"action": "set", "device_id": edgeDevice(i)}))
		assert.Equal(t, http.StatusOK, a.status)
		assert.Less(t, time.Since(start), 500*time.Millisecond, "stats answer %d while the collector hangs", i)
	}
	assert.Equal(t, 20, sink.Depth(), "queued behind the stuck POST")
	close(release)
	sink.Close()
	assert.Equal(t, int64(21), sink.Written())
}
