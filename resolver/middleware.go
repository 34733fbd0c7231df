package resolver

import (
	"crypto/rand"
	"encoding/base32"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Attribute keys of the access log and of log lines about one request.
const (
	keyRequestID = "request_id"
	keyMethod    = "method"
	keyPath      = "path"
	keyEndpoint  = "endpoint"
	keyStatus    = "status"
	keyCode      = "code"
	keyDuration  = "duration"
)

// HeaderRequestID carries a request's id: a sane one sent by the client
// (or a proxy) is kept, otherwise one is made; the answer echoes it.
const HeaderRequestID = "X-Request-Id"

// maxRequestIDLen bounds a request id taken from the client.
const maxRequestIDLen = 64

// answerWriter wraps the ResponseWriter of one request to learn what was
// answered: the status, and the error code the body starts with. Servers
// pool them, so the wrapping costs no allocation.
type answerWriter struct {
	http.ResponseWriter
	ep     endpoint
	status int
	label  int  // sniffed code label index, -1 for none
	wrote  bool // the body has begun
	id     string
	start  time.Time
}

// WriteHeader implements [http.ResponseWriter].
func (w *answerWriter) WriteHeader(status int) {
	if w.status == 0 && status >= 200 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

// Write implements [http.ResponseWriter]; the first write is sniffed for
// an error code.
func (w *answerWriter) Write(b []byte) (int, error) {
	if !w.wrote {
		w.wrote = true
		if w.status == 0 {
			w.status = http.StatusOK
		}
		w.label = answerLabels.sniff(b)
	}
	return w.ResponseWriter.Write(b)
}

// ReadFrom keeps http.ServeContent on the sendfile path of the wrapped
// writer.
func (w *answerWriter) ReadFrom(src io.Reader) (int64, error) {
	if !w.wrote {
		w.wrote = true
		if w.status == 0 {
			w.status = http.StatusOK
		}
	}
	if rf, ok := w.ResponseWriter.(io.ReaderFrom); ok {
		return rf.ReadFrom(src)
	}
	return io.Copy(w.ResponseWriter, src)
}

// Unwrap lets [http.ResponseController] reach the connection's writer.
func (w *answerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// begin wraps w for one request and gives the request its id.
func (s *Server) begin(w http.ResponseWriter, r *http.Request) *answerWriter {
	aw := s.writers.Get().(*answerWriter)
	*aw = answerWriter{ResponseWriter: w, label: -1, start: time.Now()}
	aw.id = s.requestID(w.Header(), r.Header)
	return aw
}

// end counts the answer, writes the access log line at debug level (no
// client address) and returns aw to the pool.
func (s *Server) end(aw *answerWriter, r *http.Request) {
	d := time.Since(aw.start)
	if aw.status == 0 {
		aw.status = http.StatusOK // net/http answers 200 for a handler that wrote nothing
	}
	label := answerLabels.label(aw.ep, aw.status, aw.label)
	if s.metrics != nil {
		s.metrics.answer(aw.ep, label, d)
	}
	if ctx := r.Context(); s.log.Enabled(ctx, slog.LevelDebug) {
		s.log.LogAttrs(ctx, slog.LevelDebug, "request", slog.String(keyRequestID, aw.id),
			slog.String(keyMethod, r.Method), slog.String(keyPath, r.URL.Path),
			slog.String(keyEndpoint, endpointNames[aw.ep]), slog.Int(keyStatus, aw.status),
			slog.String(keyCode, answerLabels.names[label]), slog.Duration(keyDuration, d))
	}
	*aw = answerWriter{}
	s.writers.Put(aw)
}

// handle registers h for pattern as endpoint ep; limited endpoints are
// subject to the per-IP limit. The files and the probes are not: a
// manifest download fetches many files at once.
func (s *Server) handle(pattern string, ep endpoint, limited bool, h http.Handler) {
	s.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		if aw, ok := w.(*answerWriter); ok {
			aw.ep = ep
		}
		if limited && !s.allowIP(w, r) {
			return
		}
		h.ServeHTTP(w, r)
	})
}

// requestID returns the id of a request with headers in and sets it on
// the answer's headers out. A client id is echoed without allocating.
func (s *Server) requestID(out, in http.Header) string {
	if v := in[HeaderRequestID]; len(v) == 1 && saneRequestID(v[0]) {
		out[HeaderRequestID] = v
		return v[0]
	}
	var buf [48]byte
	b := append(buf[:0], s.idPrefix...)
	id := string(strconv.AppendUint(b, s.idSeq.Add(1), 36))
	out[HeaderRequestID] = []string{id}
	return id
}

// saneRequestID accepts 1 to 64 characters of [A-Za-z0-9._-], so a
// client's id can go into headers and logs as is.
func saneRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.') {
			return false
		}
	}
	return true
}

// newIDPrefix returns the random part of this server's request ids
// ("k3x9q2ab-"), so ids of several instances or restarts do not collide;
// a counter makes the rest.
func newIDPrefix() string {
	var b [5]byte
	rand.Read(b[:]) // never fails (crypto/rand)
	return strings.ToLower(base32.StdEncoding.EncodeToString(b[:])) + "-"
}

// requestIDOf returns the id of the request w answers, or "".
func requestIDOf(w http.ResponseWriter) string {
	if aw, ok := w.(*answerWriter); ok {
		return aw.id
	}
	return ""
}
