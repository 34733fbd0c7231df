// Package cloudflare purges URLs from Cloudflare's cache after a publish
// changed the objects behind them: a [publish.Purger] on the Cloudflare API
// (POST /client/v4/zones/{zone_id}/purge_cache with {"files": [...]}),
// built on cloudflare-go.
//
// Only the pointers a write changed need purging (an app's current.json and
// the tree's index.json): every other object is immutable and named by its
// digest, so a cached copy is never stale.
package cloudflare

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cloudflare/cloudflare-go/v6/cache"
	"github.com/cloudflare/cloudflare-go/v6/option"

	"github.com/capstatic/capstatic/publish"
)

// MaxFilesPerRequest is how many URLs one purge request carries, the limit
// of Cloudflare's Free plan (higher plans accept more). Purge splits longer
// lists.
const MaxFilesPerRequest = 30

// DefaultRetries is the number of retries of a request that failed with a
// transient error when [Config.Retries] is zero.
const DefaultRetries = 2

// Config locates the zone to purge and the credentials to do it with.
type Config struct {
	// Zone is the zone id (32 hex characters, on the zone's overview page).
	Zone string
	// Token is an API token with the Zone / Cache Purge permission.
	Token string
	// BaseURL is the API's base URL; empty means
	// https://api.cloudflare.com/client/v4/. Tests point it at a stand-in.
	BaseURL string
	// Retries is how many times a request that failed with a transient
	// error (a connection failure, 408, 409, 429 or 5xx) is retried, with
	// the library's exponential backoff. Zero means [DefaultRetries]; a
	// negative number disables retries.
	Retries int
	// Timeout bounds each request; zero means 30 seconds.
	Timeout time.Duration
	// HTTPClient sends the requests; nil means a client without a proxy
	// override (http.DefaultTransport's settings).
	HTTPClient *http.Client
}

// Purger is a [publish.Purger] for one Cloudflare zone. It reads no
// environment variables. It is safe for concurrent use.
type Purger struct {
	zone string
	svc  *cache.CacheService
}

var _ publish.Purger = (*Purger)(nil)

// New returns a purger for cfg.Zone. It sends no request.
func New(cfg Config) (*Purger, error) {
	switch {
	case cfg.Zone == "":
		return nil, errors.New("cloudflare: no zone id")
	case cfg.Token == "":
		return nil, errors.New("cloudflare: no API token")
	}
	retries := cfg.Retries
	switch {
	case retries == 0:
		retries = DefaultRetries
	case retries < 0:
		retries = 0
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	client := cfg.HTTPClient
	if client == nil {
		client = &http.Client{}
	}
	opts := []option.RequestOption{
		option.WithEnvironmentProduction(),
		option.WithAPIToken(cfg.Token),
		option.WithMaxRetries(retries),
		option.WithRequestTimeout(timeout),
		option.WithHTTPClient(client),
	}
	if cfg.BaseURL != "" {
		opts = append(opts, option.WithBaseURL(cfg.BaseURL))
	}
	return &Purger{zone: cfg.Zone, svc: cache.NewCacheService(opts...)}, nil
}

// Purge implements [publish.Purger]: it asks Cloudflare to drop its cached
// copies of urls, in requests of at most [MaxFilesPerRequest] URLs. The
// URLs must be absolute and match the cached ones exactly (scheme, host,
// path and query). Purging no URL sends nothing. The error of a failed
// request wraps the library's *cloudflare.Error, which holds the HTTP status
// and Cloudflare's error messages.
func (p *Purger) Purge(ctx context.Context, urls []string) error {
	for len(urls) > 0 {
		n := min(len(urls), MaxFilesPerRequest)
		if err := p.purge(ctx, urls[:n]); err != nil {
			return err
		}
		urls = urls[n:]
	}
	return nil
}

func (p *Purger) purge(ctx context.Context, urls []string) error {
	// The fields are set one by one: cloudflare.F, which builds them, lives
	// in the library's root package, which imports every service.
	var params cache.CachePurgeParams
	params.ZoneID.Value, params.ZoneID.Present = p.zone, true
	var body cache.CachePurgeParamsBodyCachePurgeSingleFile
	body.Files.Value, body.Files.Present = urls, true
	params.Body = body
	_, err := p.svc.Purge(ctx, params)
	if err != nil {
		return fmt.Errorf("purge %d URLs from zone %s: %w", len(urls), p.zone, err)
	}
	return nil
}
