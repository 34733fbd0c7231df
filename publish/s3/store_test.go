package s3_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/capstatic/capstatic/publish/s3"
)

// TestNew_Config checks configurations that New refuses before any request.
func TestNew_Config(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  s3.Config
		want string
	}{
		{"NoBucket", s3.Config{Endpoint: "127.0.0.1:1"}, "no bucket"},
		{"EndpointScheme", s3.Config{Endpoint: "ftp://127.0.0.1:1", Bucket: "b"}, "invalid endpoint"},
		{"EndpointPath", s3.Config{Endpoint: "http://127.0.0.1:1/s3", Bucket: "b"}, "invalid endpoint"},
		{"EndpointQuery", s3.Config{Endpoint: "http://127.0.0.1:1?x=1", Bucket: "b"}, "invalid endpoint"},
		{"Prefix", s3.Config{Endpoint: "127.0.0.1:1", Bucket: "b", Prefix: "a/../b"}, "invalid prefix"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s3.New(t.Context(), tc.cfg)
			assert.ErrorContains(t, err, tc.want, "New(%+v)", tc.cfg)
		})
	}
}

// TestNew_Bucket checks New's probe of the bucket: a missing bucket is an
// error, and a 403 (credentials that may not probe the bucket) is
// accepted.
func TestNew_Bucket(t *testing.T) {
	f, url := newFakeS3(t)
	_, err := s3.New(t.Context(), s3.Config{Endpoint: url, Region: "us-east-1", Bucket: "other", Retries: -1})
	assert.ErrorContains(t, err, `bucket "other" does not exist`, "New for a missing bucket")
	_, err = s3.New(t.Context(), s3.Config{Endpoint: url, Region: "us-east-1", Bucket: f.bucket, Retries: -1})
	assert.NoError(t, err, "New for the fake's bucket")
	_, err = s3.New(t.Context(), s3.Config{Endpoint: url, Region: "us-east-1", Bucket: "forbidden", Retries: -1})
	assert.NoError(t, err, "New for a bucket answering 403")
}
