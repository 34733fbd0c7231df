package main

import (
	"context"
	"strings"

	"github.com/spf13/pflag"

	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/s3"
	"github.com/capstatic/capstatic/resolver"
)

// openS3 opens an s3://bucket/prefix store, or r2://account/bucket/prefix
// (Cloudflare R2), for writing; see s3Config.
func openS3(ctx context.Context, e *env, s *storeFlags) (publish.Store, error) {
	cfg, err := s3Config(e, s)
	if err != nil {
		return nil, err
	}
	return s3.New(ctx, cfg)
}

// openS3Source opens an s3:// or r2:// tree for serve, located and
// authenticated as openS3 does.
func openS3Source(ctx context.Context, e *env, s *storeFlags) (*resolver.S3Source, error) {
	cfg, err := s3Config(e, s)
	if err != nil {
		return nil, err
	}
	return resolver.NewS3Source(ctx, resolver.S3Config{Endpoint: cfg.Endpoint, Region: cfg.Region,
		Bucket: cfg.Bucket, Prefix: cfg.Prefix, AccessKey: cfg.AccessKey, SecretKey: cfg.SecretKey,
		SessionToken: cfg.SessionToken, PathStyle: cfg.PathStyle, Insecure: cfg.Insecure})
}

// s3Config locates an s3://bucket/prefix store, or r2://account/bucket/prefix
// (Cloudflare R2: the endpoint is derived from the account id). The
// endpoint comes from --s3-endpoint or AWS_ENDPOINT_URL, credentials from
// the usual AWS_* variables.
func s3Config(e *env, s *storeFlags) (s3.Config, error) {
	url, endpoint, region := s.url, s.endpoint, s.region
	if rest, ok := strings.CutPrefix(url, "r2://"); ok {
		account, path, _ := strings.Cut(rest, "/")
		if account == "" || path == "" {
			return s3.Config{}, usagef("--store %q: want r2://ACCOUNT_ID/BUCKET[/PREFIX]", url)
		}
		url = "s3://" + path
		if endpoint == "" {
			endpoint = "https://" + account + ".r2.cloudflarestorage.com"
		}
		if region == "" {
			region = "auto"
		}
	}
	bucket, prefix, err := s3.ParseURL(url)
	if err != nil {
		return s3.Config{}, usageError{err}
	}
	if endpoint == "" {
		endpoint = e.getenv("AWS_ENDPOINT_URL_S3")
	}
	if endpoint == "" {
		endpoint = e.getenv("AWS_ENDPOINT_URL")
	}
	if region == "" {
		region = firstNonEmpty(e.getenv("AWS_REGION"), e.getenv("AWS_DEFAULT_REGION"), "us-east-1")
	}
	if endpoint == "" {
		endpoint = "https://s3." + region + ".amazonaws.com"
	}
	insecure := s.insecure || strings.HasPrefix(endpoint, "http://")
	endpoint = strings.TrimPrefix(strings.TrimPrefix(endpoint, "https://"), "http://")
	return s3.Config{Endpoint: strings.TrimSuffix(endpoint, "/"), Region: region, Bucket: bucket, Prefix: prefix,
		AccessKey: e.getenv("AWS_ACCESS_KEY_ID"), SecretKey: e.getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: e.getenv("AWS_SESSION_TOKEN"), PathStyle: s.pathStyle, Insecure: insecure}, nil
}

// isS3URL reports whether store names a bucket: s3:// or r2://.
func isS3URL(store string) bool {
	return strings.HasPrefix(store, "s3://") || strings.HasPrefix(store, "r2://")
}

// addS3Flags adds the flags that reach an s3:// or r2:// store to a command
// whose --store is defined elsewhere (serve).
func (s *storeFlags) addS3Flags(fs *pflag.FlagSet) {
	fs.StringVar(&s.endpoint, "s3-endpoint", "", "with an s3:// or r2:// --store: S3 endpoint URL (default: AWS_ENDPOINT_URL)")
	fs.StringVar(&s.region, "s3-region", "", "with an s3:// --store: S3 region (default: AWS_REGION or us-east-1)")
	fs.BoolVar(&s.pathStyle, "s3-path-style", false, "with an s3:// --store: use path-style S3 URLs (MinIO, versitygw)")
	fs.BoolVar(&s.insecure, "s3-insecure", false, "with an s3:// --store: talk plain HTTP to the S3 endpoint")
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
