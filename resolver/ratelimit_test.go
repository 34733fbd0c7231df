package resolver_test

import (
	"net/http"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/resolver"
)

// assertTooMany checks a 429 as Gen N plugins read it (capgo-protocol.md
// §1.3): Retry-After seconds and the same wait in moreInfo.
func assertTooMany(t *testing.T, a edgeAnswer, app string, wantWait int) {
	t.Helper()
	require.Equal(t, http.StatusTooManyRequests, a.status)
	assert.Equal(t, strconv.Itoa(wantWait), a.header.Get("Retry-After"))
	more := map[string]any{"retryAfterSeconds": float64(wantWait)}
	if app != "" {
		more["app_id"] = app
	}
	assert.Equal(t, map[string]any{"error": "too_many_requests", "message": "Too many requests", "moreInfo": more,
		"kind": "failed"}, a.body)
}

func TestServer_RateDevice(t *testing.T) {
	const burst = 3
	m := resolver.NewMetrics()
	base := edgeServer(t, resolver.Config{Metrics: m, RateDevice: resolver.Rate{PerSecond: 0.01, Burst: burst}})

	for i := range burst {
		a := edgePost(t, base+"/updates", request(nil))
		assert.Equal(t, http.StatusOK, a.status, "request %d of the burst", i+1)
	}
	// The bucket is empty: a token comes back in 1/0.01 s.
	assertTooMany(t, edgePost(t, base+"/updates", request(nil)), testApp, 100)
	assertTooMany(t, edgePost(t, base+"/updates", request(map[string]any{"device_id": "6F1C2D3E-0000-4000-8000-00000000000A"})),
		testApp, 100) // device ids are compared lower-cased

	t.Run("OtherDevicesUnaffected", func(t *testing.T) {
		for i := range burst {
			a := edgePost(t, base+"/updates", request(map[string]any{"device_id": edgeDevice(1)}))
			assert.Equal(t, http.StatusOK, a.status, "other device, request %d", i+1)
		}
	})
	t.Run("OtherEndpointsUnaffected", func(t *testing.T) {
		a := edgePost(t, base+"/stats", request(map[string]any{"action": "set"}))
		assert.Equal(t, http.StatusOK, a.status)
		a = edgePost(t, base+"/channel_self", request(nil))
		assert.Equal(t, http.StatusOK, a.status)
	})
	t.Run("Counted", func(t *testing.T) {
		fams := scrape(t, base+"/metrics")
		assert.Equal(t, 2.0, sample(fams, "capstatic_rate_limited_total", "limiter", "device"))
		assert.Equal(t, 2.0, sample(fams, "capstatic_answers_total", "endpoint", "updates", "code", "too_many_requests"))
	})
}

func TestServer_RateIP(t *testing.T) {
	base := edgeServer(t, resolver.Config{RateIP: resolver.Rate{PerSecond: 0.5, Burst: 2}})
	for i := range 2 {
		a := edgePost(t, base+"/stats", request(map[string]any{"action": "set"}))
		assert.Equal(t, http.StatusOK, a.status, "request %d of the burst", i+1)
	}
	for _, path := range []string{"/updates", "/stats", "/channel_self", "/updates/manifest_size"} {
		assertTooMany(t, edgePost(t, base+path, request(nil)), "", 2)
	}
	t.Run("ProbesAndFilesUnaffected", func(t *testing.T) {
		for _, path := range []string{"/healthz", "/updates", "/files/" + testApp + "/current.json"} {
			resp, err := http.Get(base + path)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode, "GET %s", path)
		}
	})
	t.Run("ForwardedForIgnored", func(t *testing.T) {
		a := edgePost(t, base+"/updates", request(nil), "X-Forwarded-For", "203.0.113.9")
		assert.Equal(t, http.StatusTooManyRequests, a.status, "without TrustProxy the peer address counts")
	})
}

func TestServer_RateIPTrustProxy(t *testing.T) {
	base := edgeServer(t, resolver.Config{RateIP: resolver.Rate{PerSecond: 0.01, Burst: 1}, TrustProxy: true})
	post := func(xff string) int {
		return edgePost(t, base+"/updates", request(nil), "X-Forwarded-For", xff).status
	}
	assert.Equal(t, http.StatusOK, post("203.0.113.9"))
	assert.Equal(t, http.StatusTooManyRequests, post("203.0.113.9"))
	assert.Equal(t, http.StatusOK, post("203.0.113.9, 198.51.100.7"), "the last entry is the proxy's")
	assert.Equal(t, http.StatusTooManyRequests, post("192.0.2.1, 198.51.100.7"), "earlier entries are the client's choice")
	assert.Equal(t, http.StatusOK, post("2001:db8:1:2::1"))
	assert.Equal(t, http.StatusTooManyRequests, post("2001:db8:1:2:ffff::9"), "one IPv6 /64 is one client")
	assert.Equal(t, http.StatusOK, post("2001:db8:1:3::1"))
}

func TestServer_RateKeysBounded(t *testing.T) {
	const keys = 32
	m := resolver.NewMetrics()
	base := edgeServer(t, resolver.Config{Metrics: m, RateKeys: keys,
		RateDevice: resolver.Rate{PerSecond: 0.001, Burst: 1}})
	for i := range 200 {
		a := edgePost(t, base+"/updates", request(map[string]any{"device_id": edgeDevice(i)}))
		require.Equal(t, http.StatusOK, a.status, "device %d", i)
	}
	fams := scrape(t, base+"/metrics")
	n := sample(fams, "capstatic_rate_limit_keys", "limiter", "device")
	assert.LessOrEqual(t, n, float64(keys))
	assert.Greater(t, n, float64(keys/2), "shards fill up")

	// The most recent device is still tracked and limited.
	assertTooMany(t, edgePost(t, base+"/updates", request(map[string]any{"device_id": edgeDevice(199)})), testApp, 1000)
}
