package resolver

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Defaults of an [S3Config].
const (
	DefaultS3Timeout = 10 * time.Second
	DefaultS3Retries = 2
)

// s3MaxSkip is the largest forward seek an [S3Source] file serves by
// reading on in the response it has open, rather than with a new ranged
// request: below it, discarding bytes already on their way costs less than
// a round trip (and an HTTP/1.1 connection, closed with its body unread).
const s3MaxSkip = 256 << 10

// S3Config locates a published tree in an S3 bucket (AWS, R2, MinIO,
// versitygw...). Only Bucket is required.
type S3Config struct {
	// Endpoint is the S3 API's address, "host:port" or a URL such as
	// "https://ACCOUNT.r2.cloudflarestorage.com". Empty means AWS
	// ("s3.amazonaws.com"). A URL's scheme decides between HTTP and HTTPS
	// and overrides Insecure.
	Endpoint string
	// Region is the bucket's region ("auto" for R2). Empty lets minio-go
	// ask the server with GetBucketLocation once.
	Region string
	// Bucket holds the tree.
	Bucket string
	// Prefix is the folder of the bucket that holds the tree, such as
	// "updates"; empty means the bucket's root. Surrounding slashes are
	// ignored.
	Prefix string
	// AccessKey, SecretKey and SessionToken are static credentials; an
	// empty AccessKey sends anonymous requests (a public bucket). This
	// package reads no environment variables.
	AccessKey, SecretKey, SessionToken string
	// PathStyle addresses the bucket in the path (http://host/bucket/key)
	// rather than the host name; needed by MinIO and versitygw. When false,
	// minio-go picks by endpoint.
	PathStyle bool
	// Insecure talks plain HTTP to a "host:port" Endpoint.
	Insecure bool
	// Timeout bounds the wait for the headers of each answer (a body may
	// take as long as it keeps arriving, bounded by the caller's context).
	// Zero means [DefaultS3Timeout].
	Timeout time.Duration
	// Retries is how many times a request failing with a transient error
	// (a 5xx answer, a broken connection) is retried, with a short backoff.
	// Zero means [DefaultS3Retries]; negative means none. It is kept small:
	// the [Catalog] serves its last good state when a read fails.
	Retries int
}

// S3Source is a [Source] reading a published tree straight from an S3
// bucket with minio-go, without a cache: each Open is one GET request,
// sent before Open returns, so that a missing object (NoSuchKey, or a 404)
// is an error wrapping [fs.ErrNotExist] from Open. A missing bucket, denied
// access and other failures are errors that do not; note that S3 answers
// 403 rather than 404 for a missing key when the credentials may not list
// the bucket (s3:ListBucket), which the [Catalog] then reports as a failed
// read rather than an unknown app.
//
// The file Open returns is an io.ReadSeeker with Stat (name, size and
// Last-Modified from the answer's headers). Seek only records the offset:
// reading on from where the open answer is costs nothing more, a forward
// seek of up to 256 KiB reads on and discards, and any other seek sends a
// new ranged GET conditional on the first answer's ETag (If-Match), so the
// bytes of one file all come from one version of the object. The file
// server's http.ServeContent thus costs one request for a whole object and
// one or two for a range. Reads are not bounded here: the [Catalog] bounds
// its own and verifies digests.
//
// It is safe for concurrent use; a file is not.
type S3Source struct {
	client *minio.Client
	bucket string
	prefix string // "" or ending in "/"
}

var _ Source = (*S3Source)(nil)

// NewS3Source returns an [S3Source] for the tree cfg locates. It checks
// that the bucket exists with one HEAD request, and fails if it does not or
// if the server cannot be reached; an answer of 403 is accepted, since
// credentials limited to reading objects may not probe their bucket.
func NewS3Source(ctx context.Context, cfg S3Config) (*S3Source, error) {
	if cfg.Bucket == "" {
		return nil, errors.New("open s3 source: no bucket")
	}
	host, secure, err := s3Endpoint(cfg.Endpoint, cfg.Insecure)
	if err != nil {
		return nil, fmt.Errorf("open s3 source: %w", err)
	}
	s := &S3Source{bucket: cfg.Bucket}
	if p := strings.Trim(cfg.Prefix, "/"); p != "" {
		if !fs.ValidPath(p) || strings.Contains(p, `\`) {
			return nil, fmt.Errorf("open s3 source: invalid prefix %q", cfg.Prefix)
		}
		s.prefix = p + "/"
	}
	transport, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", s.url(""), err)
	}
	transport.ResponseHeaderTimeout = cfg.Timeout
	if cfg.Timeout <= 0 {
		transport.ResponseHeaderTimeout = DefaultS3Timeout
	}
	retries := cfg.Retries
	switch {
	case retries == 0:
		retries = DefaultS3Retries
	case retries < 0:
		retries = 0
	}
	opts := &minio.Options{
		Creds:      credentials.NewStaticV4(cfg.AccessKey, cfg.SecretKey, cfg.SessionToken),
		Secure:     secure,
		Transport:  transport,
		Region:     cfg.Region,
		MaxRetries: retries + 1, // minio-go counts attempts
	}
	if cfg.PathStyle {
		opts.BucketLookup = minio.BucketLookupPath
	}
	if s.client, err = minio.New(host, opts); err != nil {
		return nil, fmt.Errorf("open %s: %w", s.url(""), err)
	}
	ok, err := s.client.BucketExists(ctx, s.bucket)
	var resp minio.ErrorResponse
	switch {
	case errors.As(err, &resp) && resp.StatusCode == http.StatusForbidden:
	case err != nil:
		return nil, fmt.Errorf("open %s: %w", s.url(""), err)
	case !ok:
		return nil, fmt.Errorf("open %s: bucket %q does not exist", s.url(""), s.bucket)
	}
	return s, nil
}

// s3Endpoint returns the host:port minio-go wants and whether to use TLS.
func s3Endpoint(endpoint string, insecure bool) (host string, secure bool, err error) {
	if endpoint == "" {
		return "s3.amazonaws.com", !insecure, nil
	}
	if !strings.Contains(endpoint, "://") {
		return strings.TrimSuffix(endpoint, "/"), !insecure, nil
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

// url returns the s3:// URL of the tree path name, for messages.
func (s *S3Source) url(name string) string {
	return "s3://" + s.bucket + "/" + s.prefix + name
}

// Open implements [Source]. The file's later requests (after a Seek) run
// under ctx, so it must outlive the file's use.
func (s *S3Source) Open(ctx context.Context, name string) (fs.File, error) {
	if !fs.ValidPath(name) || name == "." || strings.Contains(name, `\`) {
		return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrInvalid}
	}
	if err := ctx.Err(); err != nil {
		return nil, &fs.PathError{Op: "open", Path: s.url(name), Err: err}
	}
	f := &s3File{ctx: ctx, src: s, name: name}
	body, oi, err := s.get(ctx, s.prefix+name, 0, "")
	if err != nil {
		return nil, s.pathError("open", name, err)
	}
	if oi.Size < 0 {
		body.Close()
		return nil, &fs.PathError{Op: "open", Path: s.url(name), Err: errors.New("answer without a Content-Length")}
	}
	f.body, f.etag = body, oi.ETag
	f.info = objectInfo{name: path.Base(name), size: oi.Size, mod: oi.LastModified}
	return f, nil
}

// get sends a GET request for key from offset off, conditional on etag when
// it is not "".
func (s *S3Source) get(ctx context.Context, key string, off int64, etag string) (io.ReadCloser, minio.ObjectInfo, error) {
	var opts minio.GetObjectOptions
	if off > 0 {
		if err := opts.SetRange(off, 0); err != nil {
			return nil, minio.ObjectInfo{}, err
		}
	}
	if etag != "" {
		if err := opts.SetMatchETag(etag); err != nil {
			return nil, minio.ObjectInfo{}, err
		}
	}
	body, oi, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, key, opts)
	return body, oi, err
}

// pathError describes a failed operation on the tree path name, reporting a
// missing object as [fs.ErrNotExist].
func (s *S3Source) pathError(op, name string, err error) error {
	if s3NotFound(err) {
		err = fs.ErrNotExist
	}
	return &fs.PathError{Op: op, Path: s.url(name), Err: err}
}

// s3NotFound reports whether err is the server's answer that the object
// does not exist. A missing bucket is a configuration error, not an
// unknown app.
func s3NotFound(err error) bool {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return false
	}
	switch resp.Code {
	case minio.NoSuchKey, "NotFound":
		return true
	case minio.NoSuchBucket:
		return false
	}
	return resp.StatusCode == http.StatusNotFound
}

// s3File is an object opened from an [S3Source]: the body of a GET answer
// that it reads on, or replaces with a ranged GET after a Seek.
type s3File struct {
	ctx  context.Context
	src  *S3Source
	name string
	info objectInfo
	etag string

	body   io.ReadCloser // the open answer, nil when there is none
	at     int64         // offset of body's next byte
	pos    int64         // offset of the next Read
	closed bool
}

func (f *s3File) Stat() (fs.FileInfo, error) { return f.info, nil }

func (f *s3File) Read(p []byte) (int, error) {
	if f.closed {
		return 0, &fs.PathError{Op: "read", Path: f.src.url(f.name), Err: fs.ErrClosed}
	}
	if f.pos >= f.info.size {
		return 0, io.EOF
	}
	if len(p) == 0 {
		return 0, nil
	}
	if err := f.position(); err != nil {
		return 0, &fs.PathError{Op: "read", Path: f.src.url(f.name), Err: err}
	}
	if rest := f.info.size - f.pos; int64(len(p)) > rest {
		p = p[:rest]
	}
	n, err := f.body.Read(p)
	f.pos += int64(n)
	f.at += int64(n)
	switch {
	case err == io.EOF && f.pos < f.info.size:
		err = io.ErrUnexpectedEOF // the answer ended before the object did
	case err == nil && f.pos == f.info.size:
		err = io.EOF
	}
	if err != nil && err != io.EOF {
		f.drop()
		return n, &fs.PathError{Op: "read", Path: f.src.url(f.name), Err: err}
	}
	return n, err
}

// position makes body's next byte the one at pos: it reads on for a short
// forward skip, or sends a new GET from pos.
func (f *s3File) position() error {
	if f.body != nil && f.at == f.pos {
		return nil
	}
	if f.body != nil && f.pos > f.at && f.pos-f.at <= s3MaxSkip {
		n, err := io.CopyN(io.Discard, f.body, f.pos-f.at)
		f.at += n
		if err == nil {
			return nil
		}
		f.drop() // fall back to a new request
	}
	f.drop()
	body, oi, err := f.src.get(f.ctx, f.src.prefix+f.name, f.pos, f.etag)
	if err != nil {
		if s3NotFound(err) {
			err = fmt.Errorf("object removed while open: %w", err)
		}
		return err
	}
	if want := f.info.size - f.pos; oi.Size != want {
		body.Close()
		return fmt.Errorf("range from %d: answer of %d bytes, want %d", f.pos, oi.Size, want)
	}
	f.body, f.at = body, f.pos
	return nil
}

// drop closes the open answer, if any.
func (f *s3File) drop() {
	if f.body != nil {
		f.body.Close()
		f.body = nil
	}
}

func (f *s3File) Seek(offset int64, whence int) (int64, error) {
	if f.closed {
		return 0, &fs.PathError{Op: "seek", Path: f.src.url(f.name), Err: fs.ErrClosed}
	}
	switch whence {
	case io.SeekStart:
	case io.SeekCurrent:
		offset += f.pos
	case io.SeekEnd:
		offset += f.info.size
	default:
		return 0, &fs.PathError{Op: "seek", Path: f.src.url(f.name), Err: fs.ErrInvalid}
	}
	if offset < 0 {
		return 0, &fs.PathError{Op: "seek", Path: f.src.url(f.name), Err: fs.ErrInvalid}
	}
	f.pos = offset
	return offset, nil
}

func (f *s3File) Close() error {
	if f.closed {
		return &fs.PathError{Op: "close", Path: f.src.url(f.name), Err: fs.ErrClosed}
	}
	f.closed = true
	f.drop()
	return nil
}
