package resolver

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
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
}

// Server serves the plugin protocol for every app of a tree.
type Server struct {
	cfg Config
	log *slog.Logger
	mux *http.ServeMux
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
	s := &Server{cfg: cfg, log: log, mux: http.NewServeMux()}
	s.routes()
	return s
}

func (s *Server) routes() {
	c := s.cfg
	s.mux.HandleFunc("POST "+c.UpdatesPath, s.handleUpdates)
	s.mux.HandleFunc("POST "+c.UpdatesPath+"/manifest_size", s.handleManifestSize)
	s.mux.HandleFunc("POST "+c.StatsPath, s.handleStats)
	s.mux.HandleFunc("POST "+c.ChannelPath, s.handleChannelSet)
	s.mux.HandleFunc("PUT "+c.ChannelPath, s.handleChannelGet)
	s.mux.HandleFunc("DELETE "+c.ChannelPath, s.handleChannelUnset)
	s.mux.HandleFunc("GET "+c.ChannelPath, s.handleChannelList)
	for _, p := range []string{c.UpdatesPath, c.StatsPath} {
		s.mux.HandleFunc("GET "+p, func(w http.ResponseWriter, _ *http.Request) {
			writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
		})
	}
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, []byte(`{"status":"ok"}`))
	})
	if c.Files != nil {
		s.mux.HandleFunc("GET "+c.FilesPath+"/{path...}", s.handleFile)
	}
}

// ServeHTTP implements [http.Handler]. A panic in a handler is answered with
// the protocol's unknown_error shape instead of a dropped connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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

func (s *Server) handleUpdates(w http.ResponseWriter, r *http.Request) {
	body, f := readBody(w, r, s.cfg.MaxBody)
	if f != nil {
		s.writeFailure(w, f)
		return
	}
	req, f := ParseRequest(body)
	if f != nil {
		s.writeFailure(w, f)
		return
	}
	app, f := s.app(r.Context(), req.AppID)
	if f != nil {
		s.writeFailure(w, f)
		return
	}
	d := Resolve(app, req, s.cfg.Overrides)
	if s.cfg.Explain {
		s.log.Debug("update decision", "app", req.AppID, "device", req.DeviceID, "code", d.Code,
			"rule", d.Rule, "channel", d.Channel, "via", d.Via, "bucket", d.Bucket, "version", d.Version())
	}
	buf := app.AppendAnswer(make([]byte, 0, 256), &d, req)
	writeJSON(w, http.StatusOK, buf)
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

func writeJSON(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = []string{"application/json"}
	w.WriteHeader(status)
	w.Write(body)
}
