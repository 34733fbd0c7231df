package resolver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// Defaults of an [HTTPWriter].
const (
	DefaultHTTPAttempts   = 4
	DefaultHTTPBackoff    = 250 * time.Millisecond
	DefaultHTTPMaxBackoff = 5 * time.Second
	DefaultHTTPTimeout    = 10 * time.Second
)

// HTTPWriter is a [Writer] that POSTs each batch of a [Sink] to a
// collector as JSON Lines.
//
// The request: POST to the URL with Content-Type application/x-ndjson and
// an Idempotency-Key header that names the batch and stays the same across
// its retries. The body holds one [Event] per line, each line a JSON
// object ending in "\n", at most 256 lines (the Sink's batch):
//
//	{"received":"2025-06-01T12:00:00.123456789Z","app_id":"com.example.app","device_id":"6f1c2d3e-0000-4000-8000-00000000000a","action":"set","version_name":"1.0.1","old_version_name":"1.0.0","version_build":"1.0.0","version_os":"14","platform":"android","plugin_version":"8.51.23","is_emulator":false,"is_prod":true,"timestamp":1748779200123,"metadata":{"duration_ms":"812"}}
//
//	received          string   RFC 3339 time the resolver accepted the event (its clock, not the device's)
//	app_id            string   always present
//	device_id         string   always present, lower-cased; hashed when the sink hashes ids (see below)
//	custom_id         string   omitted when empty; hashed like device_id
//	action            string   as the plugin sent it, any string up to 128 bytes (capgo-protocol.md §5); may be ""
//	version_name      string   the version the event is about; "builtin" or "" is replaced by version_build
//	old_version_name  string   the previous version (action "set"); omitted when empty
//	version_build     string   the native app version; omitted when empty
//	version_os        string   omitted when empty
//	platform          string   "ios", "android", "electron", …; omitted when empty
//	plugin_version    string   omitted when empty
//	is_emulator       boolean  omitted when the plugin did not send it
//	is_prod           boolean  omitted when the plugin did not send it
//	timestamp         number   the device's clock in epoch milliseconds; omitted when 0 (Gen L sends none)
//	metadata          object   string to string, at most 30 keys; omitted when empty
//
// With [Sink.HashIDs], device_id and custom_id are the first 32 hex
// characters of SHA-256(salt ‖ id). No IP address is ever recorded. New
// fields may be added; readers should ignore keys they do not know.
//
// Any 2xx answer delivers the batch. A network error, 408, 429 or 5xx is
// retried with exponential backoff and jitter (at least the collector's
// Retry-After, at most MaxBackoff) up to Attempts POSTs in all, within the
// ctx the Sink passes (bounded by [ShutdownGrace] at Close); any other
// answer fails at once. A failed batch is counted as dropped by the Sink.
// A batch whose answer was lost may be delivered twice: collectors that
// must count each event once deduplicate on Idempotency-Key.
//
// Set the exported fields before the Sink starts; Write is called from the
// Sink's one goroutine and is not safe for concurrent use.
type HTTPWriter struct {
	// Header is added to every POST, e.g. an Authorization.
	Header http.Header
	// Attempts bounds the POSTs of one batch.
	Attempts int
	// Backoff is the wait before the first retry, doubled before each
	// next one up to MaxBackoff; each wait is jittered between half and
	// all of it.
	Backoff, MaxBackoff time.Duration
	// Timeout bounds each POST.
	Timeout time.Duration

	url    string
	name   string // url without credentials or query, for errors
	client *http.Client
	buf    bytes.Buffer
	keys   string // random prefix of Idempotency-Key values
	seq    uint64
}

var _ Writer = (*HTTPWriter)(nil)

// NewHTTPWriter returns a writer posting to rawURL, an http or https URL,
// with client (nil for a client of its own); the defaults are the
// Default… constants.
func NewHTTPWriter(rawURL string, client *http.Client) (*HTTPWriter, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("stats collector %q: want an http or https URL", u.Redacted())
	}
	if client == nil {
		client = &http.Client{}
	}
	return &HTTPWriter{Attempts: DefaultHTTPAttempts, Backoff: DefaultHTTPBackoff,
		MaxBackoff: DefaultHTTPMaxBackoff, Timeout: DefaultHTTPTimeout, url: rawURL,
		name: u.Scheme + "://" + u.Host + u.Path, client: client, keys: strconv.FormatUint(rand.Uint64(), 36) + "-"}, nil
}

// Write implements [Writer]: it delivers batch or returns why it could
// not once the attempts or ctx run out.
func (h *HTTPWriter) Write(ctx context.Context, batch []Event) error {
	if len(batch) == 0 {
		return nil
	}
	h.buf.Reset()
	enc := json.NewEncoder(&h.buf)
	enc.SetEscapeHTML(false)
	for i := range batch {
		if err := enc.Encode(&batch[i]); err != nil {
			return fmt.Errorf("encode stats event: %w", err)
		}
	}
	h.seq++
	key := h.keys + strconv.FormatUint(h.seq, 10)
	for attempt := 1; ; attempt++ {
		retry, hint, err := h.post(ctx, key, h.buf.Bytes())
		if err == nil {
			return nil
		}
		if !retry || attempt >= max(h.Attempts, 1) {
			return fmt.Errorf("post %d stats events to %s (attempt %d): %w", len(batch), h.name, attempt, err)
		}
		if werr := sleepCtx(ctx, h.backoff(attempt, hint)); werr != nil {
			return fmt.Errorf("post %d stats events to %s (attempt %d): %w", len(batch), h.name, attempt,
				errors.Join(err, werr))
		}
	}
}

// post sends body once. retry reports whether another attempt may
// succeed; hint is the collector's Retry-After, if any.
func (h *HTTPWriter) post(ctx context.Context, key string, body []byte) (retry bool, hint time.Duration, err error) {
	if h.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return false, 0, err
	}
	for k, v := range h.Header {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	req.Header.Set("Idempotency-Key", key)
	resp, err := h.client.Do(req)
	if err != nil {
		return true, 0, err // sleepCtx reports a done ctx before the next attempt
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	resp.Body.Close()
	switch s := resp.StatusCode; {
	case s >= 200 && s < 300:
		return false, 0, nil
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
		return true, parseRetryAfter(resp.Header.Get("Retry-After")), fmt.Errorf("collector answered %s", resp.Status)
	default:
		return false, 0, fmt.Errorf("collector answered %s", resp.Status)
	}
}

// backoff is the wait before retry number attempt: Backoff·2^(attempt-1)
// jittered to [½, 1] of itself, raised to the collector's hint, capped at
// MaxBackoff.
func (h *HTTPWriter) backoff(attempt int, hint time.Duration) time.Duration {
	d := h.Backoff
	for i := 1; i < attempt && d < h.MaxBackoff; i++ {
		d *= 2
	}
	d = min(d, h.MaxBackoff)
	if d > 1 {
		d = d/2 + rand.N(d/2+1)
	}
	return min(max(d, hint), h.MaxBackoff)
}

// parseRetryAfter parses a Retry-After value: delay seconds or an HTTP date.
func parseRetryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n > 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return 0
}

// sleepCtx sleeps for d unless ctx ends first. It gives up at once when ctx's
// deadline comes before d: the next attempt could not happen.
func sleepCtx(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && time.Until(dl) < d {
		return context.DeadlineExceeded
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
