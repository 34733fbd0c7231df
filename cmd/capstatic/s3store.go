package main

import (
	"context"
	"strings"

	"github.com/capstatic/capstatic/publish"
	"github.com/capstatic/capstatic/publish/s3"
)

// openS3 opens an s3://bucket/prefix store, or r2://account/bucket/prefix
// (Cloudflare R2: the endpoint is derived from the account id). The
// endpoint comes from --s3-endpoint or AWS_ENDPOINT_URL, credentials from
// the usual AWS_* variables.
func openS3(ctx context.Context, e *env, s *storeFlags) (publish.Store, error) {
	url, endpoint, region := s.url, s.endpoint, s.region
	if rest, ok := strings.CutPrefix(url, "r2://"); ok {
		account, path, _ := strings.Cut(rest, "/")
		if account == "" || path == "" {
			return nil, usagef("--store %q: want r2://ACCOUNT_ID/BUCKET[/PREFIX]", url)
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
		return nil, usageError{err}
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
	return s3.New(ctx, s3.Config{Endpoint: strings.TrimSuffix(endpoint, "/"), Region: region, Bucket: bucket, Prefix: prefix,
		AccessKey: e.getenv("AWS_ACCESS_KEY_ID"), SecretKey: e.getenv("AWS_SECRET_ACCESS_KEY"),
		SessionToken: e.getenv("AWS_SESSION_TOKEN"), PathStyle: s.pathStyle, Insecure: insecure})
}

func firstNonEmpty(v ...string) string {
	for _, s := range v {
		if s != "" {
			return s
		}
	}
	return ""
}
