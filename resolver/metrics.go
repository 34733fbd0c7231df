package resolver

import (
	"errors"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultMetricsPath is where a [Server] given [Config.Metrics] serves the
// Prometheus exposition.
const DefaultMetricsPath = "/metrics"

// Metrics holds the resolver's Prometheus metrics in a registry of its own
// (never the process-wide default one). Give it to one [Server] through
// [Config.Metrics]; the server counts every answer, and the catalog, the
// cache and the stats sink report through the Observe methods. All methods
// are safe for concurrent use and do nothing on a nil *Metrics.
//
// Series:
//
//	capstatic_answers_total{endpoint,code}             answers; code is "update", a protocol error code, or "http_<status>"
//	capstatic_request_duration_seconds{endpoint}       time from request to handler return
//	capstatic_origin_reloads_total{result}             pointer re-reads: ok, unchanged or error
//	capstatic_origin_reload_failures_total{reason}     failed re-reads by [FailureLabel]: rollback, frozen, …
//	capstatic_cache_requests_total{result}             origin cache lookups: hit or miss
//	capstatic_rate_limited_total{limiter}              requests refused with 429 by the ip or device limiter
//	capstatic_rate_limit_keys{limiter}                 keys a limiter tracks (bounded by Config.RateKeys)
//	capstatic_stats_queue_depth                        stats events waiting in the sink's queue
//	capstatic_stats_events_written_total               stats events delivered
//	capstatic_stats_events_dropped_total               stats events dropped (queue full, write failed, shutdown)
//
// plus the Go runtime and process collectors.
type Metrics struct {
	reg     *prometheus.Registry
	answers *prometheus.CounterVec
	latency [numEndpoints]prometheus.Observer
	reloads [3]prometheus.Counter // reloadOK, reloadUnchanged, reloadError
	// reloadFailures counts failed reloads by [FailureLabel].
	reloadFailures *prometheus.CounterVec
	cache          [2]prometheus.Counter // miss, hit
	limited        [2]prometheus.Counter // limiterIP, limiterDevice
	handler        http.Handler
	answered       []atomic.Pointer[counterRef] // numEndpoints × len(answerLabels.names), made on first use
}

// counterRef boxes a counter so an atomic.Pointer can hold it.
type counterRef struct{ prometheus.Counter }

const (
	reloadOK = iota
	reloadUnchanged
	reloadError
)

const (
	limiterIP = iota
	limiterDevice
)

// latencyBuckets suit answers that take tens of microseconds, with a tail
// for file downloads and slow origins.
var latencyBuckets = []float64{.00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, 1, 5, 30}

// NewMetrics returns metrics registered in a new registry.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry()}
	m.answers = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "capstatic_answers_total",
		Help: `Answers by endpoint and outcome: "update", the protocol error code, or "http_<status>".`},
		[]string{"endpoint", "code"})
	latency := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "capstatic_request_duration_seconds",
		Help: "Time from request to handler return, by endpoint.", Buckets: latencyBuckets}, []string{"endpoint"})
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "capstatic_origin_reloads_total",
		Help: "App pointer re-reads by result: ok (new state loaded), unchanged, error."}, []string{"result"})
	cache := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "capstatic_cache_requests_total",
		Help: "Origin cache lookups by result: hit or miss."}, []string{"result"})
	limited := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "capstatic_rate_limited_total",
		Help: "Requests refused with 429 too_many_requests, by limiter."}, []string{"limiter"})
	for ep := range numEndpoints {
		m.latency[ep] = latency.WithLabelValues(endpointNames[ep])
	}
	for i, r := range []string{"ok", "unchanged", "error"} {
		m.reloads[i] = reloads.WithLabelValues(r)
	}
	m.reloadFailures = prometheus.NewCounterVec(prometheus.CounterOpts{Name: "capstatic_origin_reload_failures_total",
		Help: "Failed pointer re-reads by reason: rollback, frozen, wrong_key, unsigned, bad_signature, " +
			"invalid_pointer, digest_mismatch, timeout, truncated, too_large, origin, other."}, []string{"reason"})
	m.cache[0], m.cache[1] = cache.WithLabelValues("miss"), cache.WithLabelValues("hit")
	m.limited[limiterIP], m.limited[limiterDevice] = limited.WithLabelValues("ip"), limited.WithLabelValues("device")
	m.reg.MustRegister(m.answers, latency, reloads, m.reloadFailures, cache, limited,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m.answered = make([]atomic.Pointer[counterRef], int(numEndpoints)*len(answerLabels.names))
	m.handler = promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
	return m
}

// Registry returns the registry the metrics live in, for collectors of
// other components (an origin cache, a process wrapper) to join.
func (m *Metrics) Registry() *prometheus.Registry { return m.reg }

// Handler serves the registry in the Prometheus exposition formats.
func (m *Metrics) Handler() http.Handler { return m.handler }

// ObserveCache counts one origin cache lookup; hit reports whether the
// object was served from memory. Wire it to [OriginConfig.Observe].
func (m *Metrics) ObserveCache(hit bool) {
	if m == nil {
		return
	}
	if hit {
		m.cache[1].Inc()
	} else {
		m.cache[0].Inc()
	}
}

// ObserveReload counts one pointer re-read of app: an error, a new state
// (changed), or a pointer naming the state already served. Wire it to
// [Catalog.Observe].
func (m *Metrics) ObserveReload(_ string, changed bool, err error) {
	switch {
	case m == nil:
	case err != nil:
		m.reloads[reloadError].Inc()
		m.reloadFailures.WithLabelValues(FailureLabel(err)).Inc()
	case changed:
		m.reloads[reloadOK].Inc()
	default:
		m.reloads[reloadUnchanged].Inc()
	}
}

// watchSink exports the sink's queue depth and counters. A Metrics watches
// one sink: a second one is not registered.
func (m *Metrics) watchSink(s *Sink) error {
	return errors.Join(
		m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "capstatic_stats_queue_depth",
			Help: "Stats events waiting in the sink's queue."}, func() float64 { return float64(s.Depth()) })),
		m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "capstatic_stats_events_written_total",
			Help: "Stats events delivered by the sink."}, func() float64 { return float64(s.Written()) })),
		m.reg.Register(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "capstatic_stats_events_dropped_total",
			Help: "Stats events dropped: queue full, write failed, or unflushed at shutdown."},
			func() float64 { return float64(s.Dropped()) })))
}

// watchLimiter exports how many keys the limiter tracks.
func (m *Metrics) watchLimiter(name string, keys func() int) error {
	return m.reg.Register(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "capstatic_rate_limit_keys",
		Help: "Keys a rate limiter tracks.", ConstLabels: prometheus.Labels{"limiter": name}},
		func() float64 { return float64(keys()) }))
}

// rateLimited counts a 429 of limiter (limiterIP, limiterDevice).
func (m *Metrics) rateLimited(limiter int) {
	if m != nil {
		m.limited[limiter].Inc()
	}
}

// answer counts one answer of ep with the label of index label and its
// latency. It does not allocate once the (ep, label) child exists.
func (m *Metrics) answer(ep endpoint, label int, d time.Duration) {
	slot := &m.answered[int(ep)*len(answerLabels.names)+label]
	c := slot.Load()
	if c == nil {
		// Racing callers get the same child from the vector.
		c = &counterRef{m.answers.WithLabelValues(endpointNames[ep], answerLabels.names[label])}
		slot.Store(c)
	}
	c.Inc()
	m.latency[ep].Observe(d.Seconds())
}

// endpoint is the route an answer belongs to, a label of the metrics and
// the access log.
type endpoint uint8

const (
	epOther endpoint = iota // unrouted: 404, 405
	epUpdates
	epManifestSize
	epStats
	epChannel
	epFiles
	epHealth // GET /healthz and the GET probes of /updates and /stats
	epMetrics
	numEndpoints
)

var endpointNames = [numEndpoints]string{"other", "updates", "manifest_size", "stats", "channel_self", "files",
	"health", "metrics"}

// labelTable numbers the values of the code label: "update", every code
// the package has a message for, then "http_100" … "http_599". It is
// built once and never changes.
type labelTable struct {
	names []string
	index map[string]int // error code → label index
}

// answerLabels is the package's one label table: immutable data derived
// from [messages], like messages itself.
var answerLabels = newLabelTable()

const (
	labelUpdate    = 0
	firstStatus    = 100
	lastStatus     = 599
	statusFallback = http.StatusOK // for a status outside 100–599
)

func newLabelTable() labelTable {
	seen := map[string]bool{}
	var codes []string
	for k := range messages {
		code, _, _ := strings.Cut(k, ":")
		if !seen[code] {
			seen[code] = true
			codes = append(codes, code)
		}
	}
	sort.Strings(codes)
	t := labelTable{names: append([]string{"update"}, codes...), index: map[string]int{}}
	for i, c := range codes {
		t.index[c] = i + 1
	}
	for s := firstStatus; s <= lastStatus; s++ {
		t.names = append(t.names, "http_"+strconv.Itoa(s))
	}
	return t
}

// label returns the label index of an answer of ep with HTTP status and
// the index sniffed from its body (-1 for none).
func (t *labelTable) label(ep endpoint, status, sniffed int) int {
	switch {
	case sniffed >= 0:
		return sniffed
	case ep == epUpdates && status == http.StatusOK:
		return labelUpdate
	}
	return t.status(status)
}

// status returns the label index of "http_<status>".
func (t *labelTable) status(status int) int {
	if status < firstStatus || status > lastStatus {
		status = statusFallback
	}
	return len(t.names) - (lastStatus - firstStatus + 1) + status - firstStatus
}

// sniff returns the label index of the error code an answer body starts
// with, or -1. Every refusal and failure the package writes begins with
// {"error":"<code>" (appendRefusal, appendRefusalShape, AppendFailure), so
// answers are classified without each handler knowing about metrics. The
// map lookup on string(b) does not allocate.
func (t *labelTable) sniff(body []byte) int {
	const prefix = `{"error":"`
	if len(body) <= len(prefix) || string(body[:len(prefix)]) != prefix {
		return -1
	}
	rest := body[len(prefix):]
	end := 0
	for end < len(rest) && end < 64 && rest[end] != '"' && rest[end] != '\\' {
		end++
	}
	if i, ok := t.index[string(rest[:end])]; ok {
		return i
	}
	return -1
}
