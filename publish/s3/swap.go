package s3

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"syscall"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/capstatic/capstatic/publish"
)

// Swap implements [publish.Swapper] with a conditional PUT: "If-Match:
// ifMatch" to replace, "If-None-Match: *" to create. The server's refusal
// (412 PreconditionFailed, 409 ConditionalRequestConflict when another
// conditional write to the key is in flight, or 404 when ifMatch is set and
// the object is gone) is returned as an error wrapping [publish.ErrConflict].
//
// Swap reads r into memory first and sends it in a single request, so it
// suits small objects such as the pointer (at most 5 GiB). It retries
// transient failures itself; see the package documentation for how it tells
// its own earlier, unacknowledged write from a conflicting one.
func (s *Store) Swap(ctx context.Context, key string, r io.Reader, size int64, ifMatch string) error {
	name, err := s.name("swap", key)
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r)
	if err == nil && size >= 0 && int64(len(body)) != size {
		err = fmt.Errorf("read %d bytes, want %d", len(body), size)
	}
	if err != nil {
		return &fs.PathError{Op: "swap", Path: s.url(key), Err: err}
	}
	opts := putOptions(key)
	opts.DisableMultipart = true
	if ifMatch == "" {
		opts.SetMatchETagExcept("*")
	} else {
		opts.SetMatchETag(ifMatch)
	}
	uncertain := false // an earlier attempt may have been applied
	for attempt := 0; ; attempt++ {
		_, err := s.once.PutObject(ctx, s.bucket, name, bytes.NewReader(body), int64(len(body)), opts)
		switch {
		case err == nil:
			return nil
		case conflict(err, ifMatch != ""):
			if uncertain && s.holds(ctx, name, body) {
				return nil
			}
			return &fs.PathError{Op: "swap", Path: s.url(key), Err: fmt.Errorf("%w: %w", publish.ErrConflict, err)}
		case attempt >= s.retries || !transient(ctx, err):
			return s.pathError("swap", key, err)
		}
		uncertain = true
		if err := sleep(ctx, backoff(attempt)); err != nil {
			return &fs.PathError{Op: "swap", Path: s.url(key), Err: err}
		}
	}
}

// conflict reports whether err is the server refusing a conditional write.
// A 404 means the object is gone, which conflicts with an If-Match.
func conflict(err error, ifMatch bool) bool {
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		return false
	}
	switch {
	case resp.StatusCode == http.StatusPreconditionFailed || resp.Code == "PreconditionFailed":
		return true
	case resp.StatusCode == http.StatusConflict && resp.Code == "ConditionalRequestConflict":
		return true
	}
	return ifMatch && notFound(err)
}

// holds reports whether the object name now holds exactly body: then an
// earlier attempt of Swap, whose answer was lost, was applied. (Another
// writer that wrote the very same bytes is indistinguishable, and leaves the
// same tree.)
func (s *Store) holds(ctx context.Context, name string, body []byte) bool {
	rc, _, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		return false
	}
	defer rc.Close()
	got, err := io.ReadAll(io.LimitReader(rc, int64(len(body))+1))
	return err == nil && bytes.Equal(got, body)
}

// transient reports whether a request that failed with err may succeed if
// sent again. The package documentation lists these errors.
func transient(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var resp minio.ErrorResponse
	if errors.As(err, &resp) && (resp.StatusCode != 0 || resp.Code != "") {
		switch resp.Code {
		case "RequestTimeout", "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded",
			"RequestThrottled", "InternalError", "ServiceUnavailable":
			return true
		}
		switch resp.StatusCode {
		case http.StatusRequestTimeout, http.StatusTooManyRequests, http.StatusInternalServerError,
			http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			return true
		}
		return false
	}
	var (
		unknownCA x509.UnknownAuthorityError
		badCert   x509.CertificateInvalidError
		hostname  x509.HostnameError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
	)
	if errors.As(err, &unknownCA) || errors.As(err, &badCert) || errors.As(err, &hostname) ||
		errors.As(err, &verify) || errors.As(err, &record) {
		return false
	}
	var (
		urlErr *url.Error
		netErr net.Error
	)
	return errors.As(err, &urlErr) || (errors.As(err, &netErr) && netErr.Timeout()) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.ErrUnexpectedEOF)
}

// backoff returns the wait before retry attempt+1: a random duration up to
// minio.DefaultRetryUnit·2^attempt, capped at minio.DefaultRetryCap ("full
// jitter", as minio-go and the AWS SDKs do).
func backoff(attempt int) time.Duration {
	d := minio.DefaultRetryCap
	if attempt < 16 {
		d = min(d, minio.DefaultRetryUnit<<attempt)
	}
	return rand.N(d) + 1
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
