package resolver_test

import (
	"bytes"
	"net/http"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/capstatic/capstatic/resolver"
)

// scrape reads the exposition at url.
func scrape(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	require.NoError(t, err)
	return fams
}

// sample returns the value of the series of name with labels (as name,
// value pairs): a counter's or gauge's value, a histogram's count. It
// returns -1 when there is no such series.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) float64 {
	f := fams[name]
	if f == nil {
		return -1
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
	}
	return -1
}

func TestServer_Metrics(t *testing.T) {
	m := resolver.NewMetrics()
	sink := resolver.NewSink(resolver.NewLineWriter(&bytes.Buffer{}), 16)
	t.Cleanup(sink.Close)
	base := edgeServer(t, resolver.Config{Metrics: m, Sink: sink,
		RateDevice: resolver.Rate{PerSecond: 0.001, Burst: 10}})

	for _, c := range []struct {
		path   string
		body   []byte
		status int
	}{
		{"/updates", request(nil), http.StatusOK},                                        // update
		{"/updates", request(map[string]any{"device_id": edgeDevice(2)}), http.StatusOK}, // update
		{"/updates", request(map[string]any{"version_name": "1.0.1"}), http.StatusOK},
		{"/updates", request(map[string]any{"app_id": "com.example.unknown"}), http.StatusTooManyRequests},
		{"/updates", []byte(`{`), http.StatusBadRequest},
		{"/stats", request(map[string]any{"action": "set"}), http.StatusOK},
		{"/channel_self", request(nil), http.StatusOK}, // missing_channel refusal
		{"/nowhere", nil, http.StatusNotFound},
	} {
		a := edgePost(t, base+c.path, c.body)
		assert.Equal(t, c.status, a.status, "POST %s %s", c.path, c.body)
	}
	m.ObserveCache(true)
	m.ObserveCache(true)
	m.ObserveCache(false)

	fams := scrape(t, base+"/metrics")
	for _, c := range []struct {
		endpoint, code string
		want           float64
	}{
		{"updates", "update", 2},
		{"updates", "no_new_version_available", 1},
		{"updates", "on_premise_app", 1},
		{"updates", "invalid_json_parse_body", 1},
		{"stats", "http_200", 1},
		{"channel_self", "missing_channel", 1},
		{"other", "http_404", 1},
		{"updates", "too_many_requests", -1}, // never answered: no series
	} {
		assert.Equal(t, c.want, sample(fams, "capstatic_answers_total", "endpoint", c.endpoint, "code", c.code),
			"answers{endpoint=%q,code=%q}", c.endpoint, c.code)
	}
	assert.Equal(t, 5.0, sample(fams, "capstatic_request_duration_seconds", "endpoint", "updates"))
	assert.Equal(t, 1.0, sample(fams, "capstatic_request_duration_seconds", "endpoint", "stats"))
	assert.Equal(t, 2.0, sample(fams, "capstatic_cache_requests_total", "result", "hit"))
	assert.Equal(t, 1.0, sample(fams, "capstatic_cache_requests_total", "result", "miss"))
	assert.GreaterOrEqual(t, sample(fams, "capstatic_origin_reloads_total", "result", "ok"), 1.0)
	assert.Equal(t, 0.0, sample(fams, "capstatic_origin_reloads_total", "result", "error"),
		"an unknown app is not an origin error (it is negatively cached instead)")
	assert.Equal(t, 0.0, sample(fams, "capstatic_rate_limited_total", "limiter", "device"))
	assert.Equal(t, 3.0, sample(fams, "capstatic_rate_limit_keys", "limiter", "device"), "devices seen")
	assert.Equal(t, -1.0, sample(fams, "capstatic_rate_limit_keys", "limiter", "ip"), "ip limiter is off")
	for _, name := range []string{"capstatic_stats_queue_depth", "capstatic_stats_events_written_total",
		"capstatic_stats_events_dropped_total", "go_goroutines", "process_cpu_seconds_total"} {
		assert.Contains(t, fams, name)
	}

	// The scrape above is answered too.
	fams = scrape(t, base+"/metrics")
	assert.Equal(t, 1.0, sample(fams, "capstatic_answers_total", "endpoint", "metrics", "code", "http_200"))
}

func TestMetrics_ObserveReload(t *testing.T) {
	m := resolver.NewMetrics()
	m.ObserveReload(testApp, true, nil)
	m.ObserveReload(testApp, false, nil)
	m.ObserveReload(testApp, false, nil)
	m.ObserveReload(testApp, false, assert.AnError)
	fams, err := m.Registry().Gather()
	require.NoError(t, err)
	byName := map[string]*dto.MetricFamily{}
	for _, f := range fams {
		byName[f.GetName()] = f
	}
	for result, want := range map[string]float64{"ok": 1, "unchanged": 2, "error": 1} {
		assert.Equal(t, want, sample(byName, "capstatic_origin_reloads_total", "result", result), "result %s", result)
	}
}

func TestMetrics_Nil(t *testing.T) {
	var m *resolver.Metrics
	assert.NotPanics(t, func() {
		m.ObserveCache(true)
		m.ObserveReload(testApp, true, nil)
	})
}

func TestServer_MetricsPath(t *testing.T) {
	base := edgeServer(t, resolver.Config{Metrics: resolver.NewMetrics(), MetricsPath: "/internal/prom"})
	resp, err := http.Get(base + "/internal/prom")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	resp, err = http.Get(base + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}
