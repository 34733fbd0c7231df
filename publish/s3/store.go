package s3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/capstatic/capstatic/publish"
)

// DefaultRetries is the number of retries after a transient failure when
// [Config.Retries] is zero.
const DefaultRetries = 5

// partSize is the largest object Put sends in one request, and the part size
// of larger uploads. It bounds Put's memory to about two parts, and objects
// to 10,000 parts (156 GiB).
const partSize = 16 << 20

// Config locates a tree in a bucket. Only Bucket is required.
type Config struct {
	// Endpoint is the S3 API's address, "host:port" or a URL such as
	// "https://ACCOUNT.r2.cloudflarestorage.com". Empty means AWS
	// ("s3.amazonaws.com"). A URL's scheme decides between HTTP and HTTPS
	// and overrides Insecure.
	Endpoint string
	// Region is the bucket's region ("auto" for R2). Empty lets minio-go ask
	// the server with GetBucketLocation once per bucket.
	Region string
	// Bucket holds the tree.
	Bucket string
	// Prefix is the folder of the bucket that holds the tree, such as
	// "updates" or "staging/updates"; empty means the bucket's root.
	// Surrounding slashes are ignored.
	Prefix string
	// AccessKey, SecretKey and SessionToken are the static credentials.
	// An empty AccessKey sends anonymous requests. This package reads no
	// environment variables; cmd fills these from AWS_ACCESS_KEY_ID and
	// friends.
	AccessKey, SecretKey, SessionToken string
	// PathStyle addresses the bucket in the path (http://host/bucket/key)
	// instead of the host name (http://bucket.host/key). When false,
	// minio-go uses the host name for AWS and Google endpoints and the path
	// elsewhere.
	PathStyle bool
	// Insecure sends requests over plain HTTP to a "host:port" Endpoint.
	Insecure bool
	// Retries is how many times a request that failed with a transient
	// error is retried (see the package documentation). Zero means
	// [DefaultRetries]; a negative number disables retries.
	Retries int
}

// Store is a [publish.Store], [publish.Swapper] and [publish.Lister] on an
// S3 bucket. It is safe for concurrent use.
//
// Keys are slash-separated tree paths, as for [publish.Dir]; a key that
// [fs.ValidPath] refuses, ".", or one containing a backslash is refused with
// an error wrapping [fs.ErrInvalid]. Errors about an object are
// [*fs.PathError] values whose Path is the object's s3:// URL. Their Err is
// [fs.ErrNotExist] for a missing object, and otherwise wraps the
// [minio.ErrorResponse] when the server answered, or the transport's or
// context's error.
type Store struct {
	client  *minio.Client // retries transient failures itself
	once    *minio.Client // one attempt per call: Swap retries on its own
	bucket  string
	prefix  string // "" or ending in "/"
	retries int
}

var (
	_ publish.Store   = (*Store)(nil)
	_ publish.Swapper = (*Store)(nil)
	_ publish.Lister  = (*Store)(nil)
)

// New returns a store for the tree cfg locates. It checks that the bucket
// exists with one HEAD request, and returns an error if it does not or if
// the server cannot be reached; an answer of 403 is accepted, since
// credentials limited to objects may not probe their bucket.
func New(ctx context.Context, cfg Config) (*Store, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("open s3 store: no bucket")
	}
	host, secure, err := parseEndpoint(cfg.Endpoint, cfg.Insecure)
	if err != nil {
		return nil, fmt.Errorf("open s3 store: %w", err)
	}
	s := &Store{bucket: cfg.Bucket, prefix: cleanPrefix(cfg.Prefix), retries: cfg.Retries}
	if s.prefix != "" && !fs.ValidPath(strings.TrimSuffix(s.prefix, "/")) {
		return nil, fmt.Errorf("open s3 store: invalid prefix %q", cfg.Prefix)
	}
	switch {
	case s.retries == 0:
		s.retries = DefaultRetries
	case s.retries < 0:
		s.retries = 0
	}
	transport, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s.url(""), err)
	}
	opts := minio.Options{
		Creds:     credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken),
		Secure:    secure,
		Transport: transport,
		Region:    cfg.Region,
	}
	if cfg.PathStyle {
		opts.BucketLookup = minio.BucketLookupPath
	}
	opts.MaxRetries = s.retries + 1 // minio-go counts attempts
	if s.client, err = minio.New(host, &opts); err != nil {
		return nil, fmt.Errorf("open %s: %w", s.url(""), err)
	}
	opts.MaxRetries = 1
	if s.once, err = minio.New(host, &opts); err != nil {
		return nil, fmt.Errorf("open %s: %w", s.url(""), err)
	}
	if err := s.checkBucket(ctx); err != nil {
		return nil, fmt.Errorf("open %s: %w", s.url(""), err)
	}
	return s, nil
}

func (s *Store) checkBucket(ctx context.Context) error {
	ok, err := s.client.BucketExists(ctx, s.bucket)
	var resp minio.ErrorResponse
	switch {
	case errors.As(err, &resp) && resp.StatusCode == http.StatusForbidden:
		return nil
	case err != nil:
		return err
	case !ok:
		return fmt.Errorf("bucket %q does not exist", s.bucket)
	}
	return nil
}

// parseEndpoint returns the host:port minio-go wants and whether to use TLS.
func parseEndpoint(endpoint string, insecure bool) (host string, secure bool, err error) {
	if endpoint == "" {
		return "s3.amazonaws.com", !insecure, nil
	}
	if !strings.Contains(endpoint, "://") {
		return endpoint, !insecure, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false, fmt.Errorf("invalid endpoint: %w", err)
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.User != nil {
		return "", false, fmt.Errorf("invalid endpoint %q: want host:port or http(s)://host:port", endpoint)
	}
	return u.Host, u.Scheme == "https", nil
}

func cleanPrefix(prefix string) string {
	prefix = strings.Trim(prefix, "/")
	if prefix == "" {
		return ""
	}
	return prefix + "/"
}

// url returns the s3:// URL of key, for messages.
func (s *Store) url(key string) string {
	return "s3://" + s.bucket + "/" + s.prefix + key
}

// name returns the object name of key, or an error if key is not a tree
// path.
func (s *Store) name(op, key string) (string, error) {
	if !fs.ValidPath(key) || key == "." || strings.Contains(key, `\`) {
		return "", &fs.PathError{Op: op, Path: s.url(key), Err: fs.ErrInvalid}
	}
	return s.prefix + key, nil
}

// pathError describes a failed operation on key, reporting a missing object
// as [fs.ErrNotExist].
func (s *Store) pathError(op, key string, err error) error {
	if notFound(err) {
		err = fs.ErrNotExist
	}
	return &fs.PathError{Op: op, Path: s.url(key), Err: err}
}

// notFound reports whether err is the server's answer that the object does
// not exist. A missing bucket is a different error, except that a HEAD
// answer has no body to tell them apart.
func notFound(err error) bool {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return false
	}
	switch resp.Code {
	case "NoSuchKey", "NotFound":
		return true
	case "NoSuchBucket":
		return false
	}
	return resp.StatusCode == http.StatusNotFound
}

// Put implements [publish.Store]. S3 replaces an object atomically, so
// readers see the old bytes or the new ones. An object of up to 16 MiB, or
// whose reader is an [io.ReaderAt] and [io.Seeker], is sent in one request;
// a larger one from a plain reader is uploaded in 16 MiB parts, and an upload
// that fails is aborted so that nothing is written.
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	name, err := s.name("put", key)
	if err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return &fs.PathError{Op: "put", Path: s.url(key), Err: err}
	}
	body, size, err := rewindable(r, size)
	if err != nil {
		return &fs.PathError{Op: "put", Path: s.url(key), Err: err}
	}
	_, err = s.client.PutObject(ctx, s.bucket, name, body, size, putOptions(key))
	if err != nil {
		return s.pathError("put", key, err)
	}
	return nil
}

// rewindable returns r, or a copy of it in memory, such that minio-go can
// rewind the body of each request to retry it.
func rewindable(r io.Reader, size int64) (io.Reader, int64, error) {
	if _, ok := r.(interface {
		io.ReaderAt
		io.Seeker
	}); ok && size >= 0 {
		return r, size, nil // minio-go reads it through an io.SectionReader
	}
	if size > partSize {
		return r, size, nil // minio-go buffers each part
	}
	if size >= 0 {
		buf := make([]byte, size)
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, 0, err
		}
		return bytes.NewReader(buf), size, nil
	}
	head, err := io.ReadAll(io.LimitReader(r, partSize+1))
	if err != nil {
		return nil, 0, err
	}
	if len(head) <= partSize {
		return bytes.NewReader(head), int64(len(head)), nil
	}
	return io.MultiReader(bytes.NewReader(head), r), -1, nil
}

// putOptions returns the options of every upload of key.
func putOptions(key string) minio.PutObjectOptions {
	return minio.PutObjectOptions{ContentType: contentType(key), PartSize: partSize}
}

// contentType returns the media type of the tree's files by their
// extension, from a fixed table so that it does not depend on the host's
// mime.types. Brotli delta objects stay application/octet-stream: the
// plugin decodes them itself, and Content-Encoding would let HTTP clients
// decode them first.
func contentType(key string) string {
	switch path.Ext(key) {
	case ".json":
		return "application/json"
	case ".zip":
		return "application/zip"
	}
	return "application/octet-stream"
}

// Open implements [publish.Store]. It sends the GET request before it
// returns, so a missing object is reported by Open, as an error wrapping
// [fs.ErrNotExist]. The caller closes the reader; reading it is not retried.
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, error) {
	name, err := s.name("open", key)
	if err != nil {
		return nil, err
	}
	rc, _, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return nil, s.pathError("open", key, err)
	}
	return rc, nil
}

// Stat implements [publish.Store] with a HEAD request. The ETag is the
// server's, without quotes: the hex MD5 of the content for objects Put in
// one request (unless the bucket encrypts with KMS), and another opaque
// value for multipart uploads. A missing object is an error wrapping
// [fs.ErrNotExist].
func (s *Store) Stat(ctx context.Context, key string) (publish.Info, error) {
	name, err := s.name("stat", key)
	if err != nil {
		return publish.Info{}, err
	}
	oi, err := s.client.StatObject(ctx, s.bucket, name, minio.StatObjectOptions{})
	if err != nil {
		return publish.Info{}, s.pathError("stat", key, err)
	}
	return info(oi), nil
}

func info(oi minio.ObjectInfo) publish.Info {
	return publish.Info{Size: oi.Size, ETag: strings.Trim(oi.ETag, `"`), ModTime: oi.LastModified}
}

// Delete implements [publish.Store]. Deleting a missing object is not an
// error.
func (s *Store) Delete(ctx context.Context, key string) error {
	name, err := s.name("delete", key)
	if err != nil {
		return err
	}
	err = s.client.RemoveObject(ctx, s.bucket, name, minio.RemoveObjectOptions{})
	if err != nil && !notFound(err) {
		return s.pathError("delete", key, err)
	}
	return nil
}

// List implements [publish.Lister]. It reports objects in key order, page by
// page (1,000 keys per request), skipping folder markers (names ending in
// "/"), and stops with an error wrapping ctx.Err() once ctx is done.
func (s *Store) List(ctx context.Context, prefix string, fn func(key string, info publish.Info) error) error {
	opts := minio.ListObjectsOptions{Prefix: s.prefix + prefix, Recursive: true}
	for oi := range s.client.ListObjectsIter(ctx, s.bucket, opts) {
		if err := oi.Err; err != nil {
			return fmt.Errorf("list %s: %w", s.url(prefix), err)
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("list %s: %w", s.url(prefix), err)
		}
		key, ok := strings.CutPrefix(oi.Key, s.prefix)
		if !ok || key == "" || strings.HasSuffix(key, "/") {
			continue
		}
		if err := fn(key, info(oi)); err != nil {
			return err
		}
	}
	return nil
}
