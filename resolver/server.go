package resolver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
)

// Body limits (answer-features.md: ≥ 1 MiB for stats, ≥ 256 KiB otherwise).
const (
	DefaultMaxBody      = 256 << 10
	DefaultMaxStatsBody = 4 << 20
)

// Config configures a [Server].
type Config struct {
	// Catalog supplies app states. Required.
	Catalog *Catalog
	// Files serves the tree's objects under FilesPath; nil disables it.
	Files Source
	// Overrides are the override sources outside app states.
	Overrides Overrides
	// Devices stores channel overrides set by plugins that need the server
	// to remember them; nil disables server-side storage.
	Devices *DeviceStore
	// Sink receives stats events; nil discards them.
	Sink *Sink
	// Paths of the endpoints; zero values take the defaults.
	UpdatesPath, StatsPath, ChannelPath, FilesPath string
	// MaxBody and MaxStatsBody bound request bodies.
	MaxBody, MaxStatsBody int64
	// Logger receives diagnostics; nil discards.
	Logger *slog.Logger
	// Explain logs each update decision's rule at debug level.
	Explain bool
	// Metrics, when set, counts every answer and serves the exposition at
	// MetricsPath (default [DefaultMetricsPath]); it also exports the
	// Sink's queue and the limiters' sizes.
	Metrics     *Metrics
	MetricsPath string
	// RateIP limits requests per client address to the plugin endpoints
	// (not files, probes or metrics); RateDevice limits update requests per
	// app and device. A refused request gets 429 too_many_requests with
	// Retry-After. Zero rates disable them. Behind carrier-grade NAT many
	// devices share an address: keep RateIP generous.
	RateIP, RateDevice Rate
	// RateKeys bounds the keys each limiter tracks (default
	// [DefaultRateKeys]); the least recently seen is forgotten first.
	RateKeys int
	// TrustProxy takes the client address from the last X-Forwarded-For
	// entry instead of the connection. Set it only behind a proxy that
	// appends that header: otherwise clients choose their own key.
	TrustProxy bool
}

// Server serves the plugin protocol for every app of a tree.
type Server struct {
	cfg      Config
	log      *slog.Logger
	mux      *http.ServeMux
	metrics  *Metrics
	ipLimit  *limiter[ipKey]
	devLimit *limiter[appDevice]
	writers  sync.Pool // *answerWriter
	bufs     sync.Pool // *[]byte: request bodies and answers of /updates
	natives  Natives
	idPrefix string
	idSeq    atomic.Uint64
}

// NewServer returns a server for cfg.
func NewServer(cfg Config) *Server {
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&cfg.UpdatesPath, "/updates")
	def(&cfg.StatsPath, "/stats")
	def(&cfg.ChannelPath, "/channel_self")
	def(&cfg.FilesPath, "/files")
	def(&cfg.MetricsPath, DefaultMetricsPath)
	cfg.FilesPath = strings.TrimSuffix(cfg.FilesPath, "/")
	if cfg.MaxBody == 0 {
		cfg.MaxBody = DefaultMaxBody
	}
	if cfg.MaxStatsBody == 0 {
		cfg.MaxStatsBody = DefaultMaxStatsBody
	}
	if cfg.Overrides.Devices == nil && cfg.Devices != nil {
		cfg.Overrides.Devices = cfg.Devices
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{cfg: cfg, log: log, mux: http.NewServeMux(), metrics: cfg.Metrics, idPrefix: newIDPrefix(),
		ipLimit: newLimiter[ipKey](cfg.RateIP, cfg.RateKeys), devLimit: newLimiter[appDevice](cfg.RateDevice, cfg.RateKeys)}
	s.writers.New = func() any { return new(answerWriter) }
	s.watch()
	s.routes()
	return s
}

// watch exports the sink's and the limiters' state through the metrics.
func (s *Server) watch() {
	m := s.metrics
	if m == nil {
		return
	}
	var errs []error
	if s.cfg.Sink != nil {
		errs = append(errs, m.watchSink(s.cfg.Sink))
	}
	if s.ipLimit != nil {
		errs = append(errs, m.watchLimiter("ip", s.ipLimit.len))
	}
	if s.devLimit != nil {
		errs = append(errs, m.watchLimiter("device", s.devLimit.len))
	}
	if err := errors.Join(errs...); err != nil {
		s.log.Warn("metrics shared by two servers: the second one's sink and limiters are not exported", "err", err)
	}
}

func (s *Server) routes() {
	c := s.cfg
	plugin := func(pattern string, ep endpoint, h http.HandlerFunc) { s.handle(pattern, ep, true, h) }
	plugin("POST "+c.UpdatesPath, epUpdates, s.handleUpdates)
	plugin("POST "+c.UpdatesPath+"/manifest_size", epManifestSize, s.handleManifestSize)
	plugin("POST "+c.StatsPath, epStats, s.handleStats)
	plugin("POST "+c.ChannelPath, epChannel, s.handleChannelSet)
	plugin("PUT "+c.ChannelPath, epChannel, s.handleChannelGet)
	plugin("DELETE "+c.ChannelPath, epChannel, s.handleChannelUnset)
	plugin("GET "+c.ChannelPath, epChannel, s.handleChannelList)
	ok := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
	})
	for _, p := range []string{c.UpdatesPath, c.StatsPath, "/healthz"} {
		s.handle("GET "+p, epHealth, false, ok)
	}
	if c.Files != nil {
		s.handle("GET "+c.FilesPath+"/{path...}", epFiles, false, http.HandlerFunc(s.handleFile))
	}
	if s.metrics != nil {
		s.handle("GET "+c.MetricsPath, epMetrics, false, s.metrics.Handler())
	}
}

// ServeHTTP implements [http.Handler]. A panic in a handler is answered with
// the protocol's unknown_error shape instead of a dropped connection.
//
// Every request gets an id (see [HeaderRequestID]), is counted in the
// metrics, and is logged at debug level.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	aw := s.begin(w, r)
	defer s.end(aw, r)
	w = aw
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("handler panic", "path", r.URL.Path, "panic", v)
			s.writeFailure(w, fail(http.StatusInternalServerError, CodeUnknownError))
		}
	}()
	s.mux.ServeHTTP(w, r)
}

// readBody reads at most max bytes of the request body; a larger body is a
// 413 body_too_large failure.
func readBody(w http.ResponseWriter, r *http.Request, max int64) ([]byte, *Failure) {
	b, err := io.ReadAll(http.MaxBytesReader(w, r.Body, max))
	var tooBig *http.MaxBytesError
	switch {
	case errors.As(err, &tooBig):
		return nil, fail(http.StatusRequestEntityTooLarge, CodeBodyTooLarge)
	case err != nil:
		return nil, fail(http.StatusBadRequest, CodeInvalidJSONParse)
	}
	return b, nil
}

// maxPooled bounds the buffers returned to the pool.
const maxPooled = 64 << 10

// readBodyPooled reads at most max bytes of the body into a pooled buffer;
// the caller returns it with putBuf. A larger body is a 413.
func (s *Server) readBodyPooled(r *http.Request, max int64) (*[]byte, *Failure) {
	bp, _ := s.bufs.Get().(*[]byte)
	if bp == nil {
		b := make([]byte, 0, 2048)
		bp = &b
	}
	b := (*bp)[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Body.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if int64(len(b)) > max {
			*bp = b
			s.putBuf(bp)
			return nil, fail(http.StatusRequestEntityTooLarge, CodeBodyTooLarge)
		}
		if err == io.EOF {
			*bp = b
			return bp, nil
		}
		if err != nil {
			*bp = b
			s.putBuf(bp)
			return nil, fail(http.StatusBadRequest, CodeInvalidJSONParse)
		}
	}
}

func (s *Server) putBuf(bp *[]byte) {
	if cap(*bp) <= maxPooled {
		*bp = (*bp)[:0]
		s.bufs.Put(bp)
	}
}

func (s *Server) handleUpdates(w http.ResponseWriter, r *http.Request) {
	bp, f := s.readBodyPooled(r, s.cfg.MaxBody)
	if f != nil {
		s.writeFailure(w, f)
		return
	}
	defer s.putBuf(bp)
	req, f := ParseRequestCached(*bp, &s.natives) // copies what it keeps
	if f != nil {
		s.writeFailure(w, f)
		return
	}
	if !s.allowDevice(w, req) {
		return
	}
	app, f := s.app(r.Context(), req.AppID)
	if f != nil {
		s.writeFailure(w, f)
		return
	}
	d := Resolve(app, req, s.cfg.Overrides)
	if s.cfg.Explain {
		s.log.Debug("update decision", keyRequestID, requestIDOf(w), "app", req.AppID, "device", req.DeviceID, "code", d.Code,
			"rule", d.Rule, "channel", d.Channel, "via", d.Via, "bucket", d.Bucket, "version", d.Version())
	}
	*bp = app.AppendAnswer((*bp)[:0], &d, req)
	writeJSON(w, http.StatusOK, *bp)
}

// app returns the app or the 429 on_premise_app failure the backend sends
// for an unknown app (answer-features.md: no kind, no Retry-After).
func (s *Server) app(ctx context.Context, id string) (*App, *Failure) {
	app, err := s.cfg.Catalog.App(ctx, id)
	if err != nil {
		return nil, fail(http.StatusTooManyRequests, CodeOnPremise)
	}
	return app, nil
}

func (s *Server) writeFailure(w http.ResponseWriter, f *Failure) {
	writeJSON(w, f.Status, AppendFailure(nil, f))
}

// jsonType is shared by every answer: header values are replaced, never
// modified in place, so one slice serves all responses.
var jsonType = []string{"application/json"}

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonType
	w.WriteHeader(status)
	w.Write(body)
}
