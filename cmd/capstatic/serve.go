package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/capstatic/capstatic/resolver"
)

type serveOpts struct {
	store      string
	addr       string
	publicURL  string
	filesURL   string
	overrides  string
	devices    string
	stats      string
	hashIDs    bool
	tlsCert    string
	tlsKey     string
	ttl        time.Duration
	logLevel   string
	explain    bool
	queue      int
	maxDevices int

	metricsPath string
	rateIP      resolver.Rate
	rateDevice  resolver.Rate
	rateKeys    int
	trustProxy  bool

	origin originOpts // origin.go
	trust  trustOpts  // signing.go
}

func (o *serveOpts) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.addr, "addr", "127.0.0.1:8080", "listen address")
	fs.StringVar(&o.publicURL, "public-url", "", "URL devices use to reach this server (default: http://ADDR)")
	fs.StringVar(&o.filesURL, "files-url", "", "base URL of the tree's files on a CDN (default: PUBLIC_URL/files, served here)")
	fs.StringVar(&o.overrides, "overrides", "", "override file: lines of \"app_id device_id channel\", reloaded on change")
	fs.StringVar(&o.devices, "devices", "", "writable file for channel overrides set by plugins < x.34 (single instance)")
	fs.StringVar(&o.stats, "stats", "stdout", "stats sink: stdout, none, a file path, or an http(s):// collector URL (JSON Lines POSTs)")
	fs.BoolVar(&o.hashIDs, "hash-ids", false, "hash device_id and custom_id in stats")
	fs.StringVar(&o.tlsCert, "tls-cert", "", "TLS certificate (PEM); phones refuse cleartext HTTP by default")
	fs.StringVar(&o.tlsKey, "tls-key", "", "TLS private key (PEM)")
	fs.DurationVar(&o.ttl, "ttl", resolver.DefaultTTL, "how long an app pointer is trusted before it is re-read")
	fs.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.BoolVar(&o.explain, "explain", false, "log every update decision's rule at debug level")
	fs.IntVar(&o.queue, "stats-queue", 10000, "stats events queued before new ones are dropped")
	fs.IntVar(&o.maxDevices, "max-devices", 100000, "bound of the --devices store")
	fs.StringVar(&o.metricsPath, "metrics-path", resolver.DefaultMetricsPath, "path of the Prometheus metrics; empty disables them")
	fs.Float64Var(&o.rateIP.PerSecond, "rate-ip", 0, "requests per second per client address to the plugin endpoints, 429 beyond (0: no limit)")
	fs.IntVar(&o.rateIP.Burst, "rate-ip-burst", 0, "requests a client address may make at once (default: the rate, at least 1)")
	fs.Float64Var(&o.rateDevice.PerSecond, "rate-device", 0, "update checks per second per device, e.g. 0.1 for 6 a minute (0: no limit)")
	fs.IntVar(&o.rateDevice.Burst, "rate-device-burst", 0, "update checks a device may make at once (default: the rate, at least 1)")
	fs.IntVar(&o.rateKeys, "rate-keys", resolver.DefaultRateKeys, "addresses or devices each rate limiter remembers")
	fs.BoolVar(&o.trustProxy, "trust-proxy", false, "rate-limit by the last X-Forwarded-For address (only behind a proxy that sets it)")
}

func runServe(ctx context.Context, e *env, args []string) error {
	var o serveOpts
	fs := newFlags(e, "serve", "serve --store TREE [--addr HOST:PORT] [--public-url URL]")
	fs.StringVar(&o.store, "store", "", "the tree: a folder, an http(s):// origin (a web server, CDN, GitHub Pages, S3 website) read through a cache, or a bucket: s3://BUCKET/PREFIX or r2://ACCOUNT_ID/BUCKET/PREFIX")
	o.addFlags(fs)
	o.origin.addFlags(fs) // origin.go
	o.trust.addFlags(fs)  // signing.go
	gcPercent := fs.Int("gc-percent", 400, "Go GC target percentage (GOGC); the resolver's heap is small, so a higher value trades a little memory for less CPU per answer")
	if err := parse(e, fs, args); err != nil {
		return err
	}
	if o.store == "" {
		return usagef("--store is required")
	}
	if e.getenv("GOGC") == "" {
		debug.SetGCPercent(*gcPercent)
	}
	log := newLogger(e, o.logLevel)
	srv, cleanup, err := o.build(ctx, e, log)
	if err != nil {
		return err
	}
	// listen returns once the HTTP server has drained, so the sink is
	// closed after the last answer offered its events.
	err = o.listen(ctx, e, srv, log)
	cleanup()
	return err
}

// build assembles the resolver: source, catalog, overrides, device store,
// stats sink, metrics and rate limits. cleanup flushes the sink.
func (o *serveOpts) build(ctx context.Context, e *env, log *slog.Logger) (http.Handler, func(), error) {
	if o.publicURL == "" {
		o.publicURL = "http://" + o.addr
	}
	o.publicURL = strings.TrimSuffix(o.publicURL, "/")
	var metrics *resolver.Metrics
	if o.metricsPath != "" {
		if !strings.HasPrefix(o.metricsPath, "/") {
			return nil, nil, usagef("--metrics-path %q: want a path starting with /", o.metricsPath)
		}
		metrics = resolver.NewMetrics()
		o.origin.observe = metrics.ObserveCache
	}
	src, err := o.origin.open(ctx, e, o.store, log)
	if err != nil {
		return nil, nil, err
	}
	files := o.filesURL
	if files == "" {
		files = o.publicURL + "/files"
	}
	cat := resolver.NewCatalog(src, resolver.URLs{Files: strings.TrimSuffix(files, "/"), Builtin: o.publicURL + "/builtin"}, log)
	cat.TTL = o.ttl
	if cat.Trust, err = o.trust.verifier(log); err != nil {
		return nil, nil, err
	}
	cfg := resolver.Config{Catalog: cat, Files: src, Logger: log, Explain: o.explain, Metrics: metrics,
		MetricsPath: o.metricsPath, RateIP: o.rateIP, RateDevice: o.rateDevice, RateKeys: o.rateKeys,
		TrustProxy: o.trustProxy}
	if metrics != nil {
		cat.Observe = metrics.ObserveReload
	}
	if o.overrides != "" {
		of, err := resolver.OpenOverrideFile(o.overrides, log)
		if err != nil {
			return nil, nil, fmt.Errorf("--overrides: %w", err)
		}
		go of.Watch(ctx)
		cfg.Overrides.File = of
	}
	if o.devices != "" {
		ds, err := resolver.OpenDeviceStore(o.devices, o.maxDevices)
		if err != nil {
			return nil, nil, fmt.Errorf("--devices: %w", err)
		}
		cfg.Devices = ds
	}
	sink, err := o.sink(e, log)
	if err != nil {
		return nil, nil, err
	}
	cfg.Sink = sink
	cleanup := func() {
		if sink != nil {
			sink.Close()
		}
	}
	return resolver.NewServer(cfg), cleanup, nil
}

// openSource opens a folder tree; originOpts.open (origin.go) adds
// http(s):// origins and s3:// / r2:// buckets.
func openSource(store string) (resolver.Source, error) {
	if strings.Contains(store, "://") {
		return nil, usagef("--store %q: want a folder, an http(s):// origin, or s3:// / r2://", store)
	}
	st, err := os.Stat(store)
	if err != nil {
		return nil, fmt.Errorf("--store: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("--store %s is not a folder", store)
	}
	return resolver.FS(os.DirFS(store)), nil
}

func (o *serveOpts) sink(e *env, log *slog.Logger) (*resolver.Sink, error) {
	var w resolver.Writer
	switch {
	case o.stats == "none" || o.stats == "":
		return nil, nil
	case o.stats == "stdout":
		w = resolver.NewLineWriter(e.stdout)
	case strings.HasPrefix(o.stats, "http://") || strings.HasPrefix(o.stats, "https://"):
		hw, err := resolver.NewHTTPWriter(o.stats, nil)
		if err != nil {
			return nil, usagef("--stats: %v", err)
		}
		w = hw
	default:
		f, err := os.OpenFile(o.stats, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("--stats: %w", err)
		}
		w = resolver.NewLineWriter(f)
	}
	s := resolver.NewSink(w, o.queue)
	s.Logger = log
	s.HashIDs = o.hashIDs
	return s, nil
}

// listen serves until ctx is done, then drains in-flight requests for up
// to 10 seconds.
func (o *serveOpts) listen(ctx context.Context, e *env, h http.Handler, log *slog.Logger) error {
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: h, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 10 * time.Minute, IdleTimeout: 2 * time.Minute, MaxHeaderBytes: 64 << 10}
	scheme := "http"
	if o.tlsCert != "" {
		scheme = "https"
	}
	fmt.Fprintf(e.stderr, "capstatic: serving %s on %s://%s\n", o.store, scheme, ln.Addr())
	fmt.Fprintf(e.stderr, "  updateUrl:  %s/updates\n  statsUrl:   %s/stats\n  channelUrl: %s/channel_self\n",
		o.publicURL, o.publicURL, o.publicURL)
	errc := make(chan error, 1)
	go func() {
		if o.tlsCert != "" {
			errc <- srv.ServeTLS(ln, o.tlsCert, o.tlsKey)
		} else {
			errc <- srv.Serve(ln)
		}
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		srv.Close() // drain timed out: cut the connections still open
		return err
	}
	return nil
}

func newLogger(e *env, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewJSONHandler(e.stderr, &slog.HandlerOptions{Level: l}))
}
