package s3_test

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/capstatic/capstatic/publish/s3"
)

func TestParseURL(t *testing.T) {
	for _, tc := range []struct {
		name, url      string
		bucket, prefix string
		wantErr        bool
	}{
		{name: "Root", url: "s3://updates", bucket: "updates"},
		{name: "RootSlash", url: "s3://updates/", bucket: "updates"},
		{name: "Prefix", url: "s3://updates/prod/capstatic", bucket: "updates", prefix: "prod/capstatic"},
		{name: "TrailingSlash", url: "s3://updates/prod/", bucket: "updates", prefix: "prod"},
		{name: "DottedBucket", url: "s3://my.bucket/x", bucket: "my.bucket", prefix: "x"},
		{name: "Scheme", url: "https://updates/prod", wantErr: true},
		{name: "NoBucket", url: "s3:///prod", wantErr: true},
		{name: "Opaque", url: "s3:updates", wantErr: true},
		{name: "Port", url: "s3://updates:9000/prod", wantErr: true},
		{name: "User", url: "s3://key:secret@updates/prod", wantErr: true},
		{name: "Query", url: "s3://updates/prod?region=eu", wantErr: true},
		{name: "Fragment", url: "s3://updates/prod#x", wantErr: true},
		{name: "DotDot", url: "s3://updates/a/../b", wantErr: true},
		{name: "DoubleSlash", url: "s3://updates/a//b", wantErr: true},
		{name: "Empty", url: "", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket, prefix, err := s3.ParseURL(tc.url)
			if tc.wantErr {
				assert.Error(t, err, "ParseURL(%q)", tc.url)
				return
			}
			if assert.NoError(t, err, "ParseURL(%q)", tc.url) {
				assert.Equal(t, [2]string{tc.bucket, tc.prefix}, [2]string{bucket, prefix}, "ParseURL(%q)", tc.url)
			}
		})
	}
}
