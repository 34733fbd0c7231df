package main

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/capstatic/capstatic/resolver"
)

// originOpts are the serve flags of an http(s):// --store (proxy mode).
type originOpts struct {
	staleIfError time.Duration
	cacheBytes   byteSize
	timeout      time.Duration
	// observe, when set before open, is told of every cache hit and miss
	// (resolver.OriginConfig.Observe), for metrics.
	observe func(hit bool)
	// s3 holds the flags of an s3:// or r2:// --store (s3store.go).
	s3 storeFlags
}

func (o *originOpts) addFlags(fs *pflag.FlagSet) {
	o.cacheBytes = resolver.DefaultCacheBytes
	fs.DurationVar(&o.staleIfError, "stale-if-error", time.Hour, "with an http(s):// --store: how long a cached pointer is still served when the origin fails")
	fs.Var(&o.cacheBytes, "cache-bytes", "with an http(s):// --store: memory for cached tree objects, e.g. 256MiB")
	fs.DurationVar(&o.timeout, "origin-timeout", resolver.DefaultOriginTimeout, "with an http(s):// --store: time limit of each origin request")
	o.s3.addS3Flags(fs)
}

// open opens the tree serve reads: a folder (see openSource), a remote
// origin behind a cache, or a bucket (s3:// or r2://, read directly with
// the endpoint, region and credentials publish uses).
func (o *originOpts) open(ctx context.Context, e *env, store string, log *slog.Logger) (resolver.Source, error) {
	switch {
	case isS3URL(store):
		o.s3.url = store
		return openS3Source(ctx, e, &o.s3)
	case isOriginURL(store):
		return o.openOrigin(store, log)
	}
	return openSource(store)
}

// openOrigin opens an http(s):// origin behind a cache.
func (o *originOpts) openOrigin(store string, log *slog.Logger) (resolver.Source, error) {
	src, err := resolver.NewOrigin(store, resolver.OriginConfig{Timeout: o.timeout, CacheBytes: int64(o.cacheBytes),
		StaleIfError: o.staleIfError, UserAgent: "capstatic/" + version, Logger: log, Observe: o.observe})
	if err != nil {
		return nil, usagef("--store: %v", err)
	}
	return src, nil
}

func isOriginURL(store string) bool {
	return strings.HasPrefix(store, "https://") || strings.HasPrefix(store, "http://")
}

// byteSize is a flag value in bytes, written as a number with an optional
// unit: 1048576, 512KiB, 256MiB, 1GiB (or KB, MB, GB in powers of 1000).
type byteSize int64

var byteUnits = []struct {
	suffix string
	n      int64
}{
	{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30},
	{"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1},
}

func (b *byteSize) Set(s string) error {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range byteUnits {
		if rest, ok := strings.CutSuffix(num, u.suffix); ok {
			num, mult = strings.TrimSpace(rest), u.n
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("want a size such as 256MiB, got %q", s)
	}
	*b = byteSize(n * mult)
	return nil
}

func (b *byteSize) String() string {
	n := int64(*b)
	for i := 2; i >= 0; i-- { // GiB, MiB, KiB: the largest that divides n
		if u := byteUnits[i]; n >= u.n && n%u.n == 0 {
			return strconv.FormatInt(n/u.n, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}

func (b *byteSize) Type() string { return "size" }
