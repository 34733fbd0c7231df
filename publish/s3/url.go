package s3

import (
	"fmt"
	"io/fs"
	"net/url"
	"strings"
)

// ParseURL splits a store URL of the form s3://bucket/prefix, as given on
// the command line, into the bucket and the prefix for [Config] (the prefix
// without surrounding slashes, "" for the bucket's root). It returns an
// error for another scheme, a missing bucket, or a URL with a user, port,
// query or fragment, or an invalid prefix.
func ParseURL(rawURL string) (bucket, prefix string, err error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "", "", fmt.Errorf("parse store url: %w", err)
	}
	switch {
	case u.Scheme != "s3":
		return "", "", fmt.Errorf("parse store url %q: scheme is not s3", rawURL)
	case u.Host == "":
		return "", "", fmt.Errorf("parse store url %q: no bucket", rawURL)
	case u.User != nil || u.Port() != "" || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", "", fmt.Errorf("parse store url %q: want s3://bucket/prefix", rawURL)
	}
	prefix = strings.Trim(u.Path, "/")
	if prefix != "" && !fs.ValidPath(prefix) {
		return "", "", fmt.Errorf("parse store url %q: invalid prefix %q", rawURL, prefix)
	}
	return u.Host, prefix, nil
}
