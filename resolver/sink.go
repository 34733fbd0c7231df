package resolver

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"
)

// Event is one stats event as the sink writes it: one JSON object per line
// (JSON Lines). Fields follow the plugin's names; Received is set by the
// resolver. No IP address is recorded.
type Event struct {
	Received       time.Time         `json:"received"`
	AppID          string            `json:"app_id"`
	DeviceID       string            `json:"device_id"`
	CustomID       string            `json:"custom_id,omitempty"`
	Action         string            `json:"action"`
	VersionName    string            `json:"version_name"`
	OldVersionName string            `json:"old_version_name,omitempty"`
	VersionBuild   string            `json:"version_build,omitempty"`
	VersionOS      string            `json:"version_os,omitempty"`
	Platform       string            `json:"platform,omitempty"`
	PluginVersion  string            `json:"plugin_version,omitempty"`
	IsEmulator     *bool             `json:"is_emulator,omitempty"`
	IsProd         *bool             `json:"is_prod,omitempty"`
	Timestamp      int64             `json:"timestamp,omitempty"`
	Metadata       map[string]string `json:"metadata,omitempty"`
}

// Sink receives stats events through a bounded queue and writes them from
// one goroutine, so a slow destination never delays an answer: when the
// queue is full the event is dropped and counted.
type Sink struct {
	out   Writer
	queue chan Event
	// HashIDs replaces device_id and custom_id by a salted SHA-256.
	HashIDs bool
	Salt    string
	// Logger is told, at most once a minute, why a batch was dropped; nil
	// discards.
	Logger *slog.Logger

	ctx      context.Context // cancelled ShutdownGrace after Close
	cancel   context.CancelFunc
	lastWarn time.Time
	dropped  atomic.Int64
	written  atomic.Int64
	done     chan struct{}
	stopOnce sync.Once
	stop     chan struct{}
}

// Writer delivers batches of events. Write is called from a single
// goroutine; an error counts the batch as dropped.
type Writer interface {
	Write(ctx context.Context, batch []Event) error
}

// NewSink starts a sink writing to out with a queue of size events. Close
// stops it.
func NewSink(out Writer, size int) *Sink {
	s := &Sink{out: out, queue: make(chan Event, size), done: make(chan struct{}), stop: make(chan struct{})}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	go s.run()
	return s
}

// Offer queues e without blocking; it reports false when e was dropped.
func (s *Sink) Offer(e Event) bool {
	if s.HashIDs {
		e.DeviceID, e.CustomID = s.hash(e.DeviceID), s.hash(e.CustomID)
	}
	select {
	case s.queue <- e:
		return true
	default:
		s.dropped.Add(1)
		return false
	}
}

func (s *Sink) hash(id string) string {
	if id == "" {
		return ""
	}
	h := sha256.Sum256([]byte(s.Salt + id))
	return hex.EncodeToString(h[:16])
}

// Dropped returns how many events were dropped (queue full, write failed,
// or unflushed at shutdown).
func (s *Sink) Dropped() int64 { return s.dropped.Load() }

// Written returns how many events were delivered.
func (s *Sink) Written() int64 { return s.written.Load() }

// Depth returns the number of queued events.
func (s *Sink) Depth() int { return len(s.queue) }

// run batches queued events and writes them until Close. It exits after
// the final flush.
func (s *Sink) run() {
	defer close(s.done)
	batch := make([]Event, 0, 256)
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	flush := func(ctx context.Context) {
		if len(batch) == 0 {
			return
		}
		if err := s.out.Write(ctx, batch); err != nil {
			s.dropped.Add(int64(len(batch)))
			s.warn(err, len(batch))
		} else {
			s.written.Add(int64(len(batch)))
		}
		batch = batch[:0]
	}
	for {
		select {
		case e := <-s.queue:
			batch = append(batch, e)
			if len(batch) == cap(batch) {
				flush(s.ctx)
			}
		case <-tick.C:
			flush(s.ctx)
		case <-s.stop:
			s.drain(&batch, flush)
			return
		}
	}
}

// drain flushes what is queued for at most ShutdownGrace, then counts the
// rest as dropped.
func (s *Sink) drain(batch *[]Event, flush func(context.Context)) {
	ctx := s.ctx
	for {
		select {
		case e := <-s.queue:
			*batch = append(*batch, e)
			if len(*batch) == cap(*batch) {
				flush(ctx)
			}
			continue
		default:
		}
		break
	}
	flush(ctx)
	s.dropped.Add(int64(len(s.queue)))
}

// ShutdownGrace bounds the final flush of a [Sink].
const ShutdownGrace = 5 * time.Second

// Close stops the sink after a final flush. The whole of Close, including a
// flush already in flight, is bounded by [ShutdownGrace]; what is not
// delivered by then is counted as dropped.
func (s *Sink) Close() {
	s.stopOnce.Do(func() {
		close(s.stop)
		time.AfterFunc(ShutdownGrace, s.cancel)
	})
	<-s.done
	s.cancel()
}

// warn logs a dropped batch, at most once a minute.
func (s *Sink) warn(err error, n int) {
	if s.Logger == nil || time.Since(s.lastWarn) < time.Minute {
		return
	}
	s.lastWarn = time.Now()
	s.Logger.Warn("stats batch dropped", "events", n, "err", err)
}

// LineWriter writes events as JSON Lines to an io.Writer (stdout, a file).
type LineWriter struct {
	w *bufio.Writer
}

// NewLineWriter returns a [Writer] producing JSON Lines on w.
func NewLineWriter(w io.Writer) *LineWriter { return &LineWriter{w: bufio.NewWriter(w)} }

// Write implements [Writer].
func (l *LineWriter) Write(_ context.Context, batch []Event) error {
	enc := json.NewEncoder(l.w)
	enc.SetEscapeHTML(false)
	for i := range batch {
		if err := enc.Encode(&batch[i]); err != nil {
			return err
		}
	}
	return l.w.Flush()
}
