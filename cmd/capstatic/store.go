package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/pflag"

	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/pages"
)

// errConflict marks a lost race with another publisher (exit status 3).
var errConflict = publish.ErrConflict

// storeFlags are the flags that pick and configure a store.
type storeFlags struct {
	url       string
	endpoint  string
	region    string
	pathStyle bool
	insecure  bool
	cfZone    string
	cfToken   string
	cfBaseURL string
	purgeBase string
	pages     bool   // --pages, or a pages:PATH store (pages.go in publish/pages)
	purge     *purge // set by open when --cloudflare-zone is (purge.go)
}

func (s *storeFlags) add(fs *pflag.FlagSet) {
	fs.StringVar(&s.url, "store", "", "where the tree lives: a folder, s3://bucket/prefix or r2://account/bucket/prefix")
	fs.StringVar(&s.endpoint, "s3-endpoint", "", "S3 endpoint URL (default: AWS_ENDPOINT_URL)")
	fs.StringVar(&s.region, "s3-region", "", "S3 region (default: AWS_REGION or us-east-1)")
	fs.BoolVar(&s.pathStyle, "s3-path-style", false, "use path-style S3 URLs (MinIO, versitygw)")
	fs.BoolVar(&s.insecure, "s3-insecure", false, "talk plain HTTP to the S3 endpoint")
	fs.StringVar(&s.cfZone, "cloudflare-zone", "", "Cloudflare zone id: purge changed pointer URLs after writing")
	fs.StringVar(&s.cfToken, "cloudflare-token", "", "Cloudflare API token for --cloudflare-zone")
	fs.StringVar(&s.cfBaseURL, "cloudflare-api", "", "Cloudflare API base URL (tests)")
	fs.StringVar(&s.purgeBase, "purge-url", "", "public base URL of the tree, for cache purges")
	fs.BoolVar(&s.pages, "pages", false, "the folder is a GitHub Pages site: add .nojekyll (same as --store pages:PATH)")
}

// open returns the store the flags name, wrapped to record the pointers it
// writes when a cache purge is configured (purge.go).
func (s *storeFlags) open(ctx context.Context, e *env) (publish.Store, error) {
	store, err := s.openStore(ctx, e)
	if err != nil {
		return nil, err
	}
	return s.setupPurge(ctx, e, store)
}

func (s *storeFlags) openStore(ctx context.Context, e *env) (publish.Store, error) {
	if rest, ok := strings.CutPrefix(s.url, "pages:"); ok {
		s.url, s.pages = rest, true
	}
	u := s.url
	switch {
	case u == "":
		return nil, usagef("--store is required (a folder or s3://bucket/prefix)")
	case strings.HasPrefix(u, "s3://"), strings.HasPrefix(u, "r2://"):
		if s.pages {
			return nil, usagef("--pages needs a folder --store")
		}
		return openS3(ctx, e, s)
	case strings.Contains(u, "://"):
		return nil, usagef("--store %q: writing needs a folder or s3:// / r2:// URL", u)
	}
	if s.pages {
		if err := pages.Prepare(u); err != nil {
			return nil, err
		}
	}
	return publish.NewDir(u)
}

// dirOf returns the folder of a directory store, or an error.
func (s *storeFlags) dirOf() (string, error) {
	if s.url == "" || strings.Contains(s.url, "://") {
		return "", errors.New("this command needs a folder --store")
	}
	if _, err := os.Stat(s.url); err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	return s.url, nil
}
