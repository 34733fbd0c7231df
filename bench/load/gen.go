package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// maxAnswer bounds how much of an answer is read; update answers with a
// manifest of a large build stay well below it.
const maxAnswer = 4 << 20

// target is the resolver under load and the bodies sent to it.
type target struct {
	url    string
	client *http.Client
	reqs   []request
}

// newClient is a keep-alive client that holds up to conns connections to
// the one host, ignores proxy settings (the target is loopback) and gives
// up on a request after timeout.
func newClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			IdleConnTimeout:     90 * time.Second,
			DisableCompression:  true,
		},
	}
}

// answer is what a request got: a status and an "error" code, or a
// transport error.
type answer struct {
	status int
	code   string
	err    error
}

// do posts req as a plugin does and reads the whole answer into buf, so
// the connection goes back to the pool; each worker reuses its own buf.
func (t *target) do(req request, buf *bytes.Buffer) answer {
	hr, err := http.NewRequest(http.MethodPost, t.url, bytes.NewReader(req.body))
	if err != nil {
		return answer{err: err}
	}
	hr.Header.Set("Content-Type", "application/json")
	resp, err := t.client.Do(hr)
	if err != nil {
		return answer{err: err}
	}
	defer resp.Body.Close()
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, maxAnswer)); err != nil {
		return answer{err: err}
	}
	return answer{status: resp.StatusCode, code: answerCode(buf.Bytes())}
}

var errorPrefix = []byte(`{"error":"`)

// answerCode is the "error" field of an answer ("" for an update). The
// resolver writes it first, so the common case needs no JSON decoding.
func answerCode(body []byte) string {
	if rest, ok := bytes.CutPrefix(body, errorPrefix); ok {
		if i := bytes.IndexByte(rest, '"'); i >= 0 && bytes.IndexByte(rest[:i], '\\') < 0 {
			return string(rest[:i])
		}
	}
	if !bytes.Contains(body, []byte(`"error"`)) {
		return ""
	}
	var a struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &a) != nil {
		return "(not JSON)"
	}
	return a.Error
}

// statusCode keys the answer counts.
type statusCode struct {
	status int
	code   string
}

// tally collects the outcome of a phase; it is safe for concurrent use.
type tally struct {
	lat hist

	mu         sync.Mutex
	answers    map[statusCode]int64
	transport  int64
	firstErr   error
	unexpected int64
}

func newTally() *tally { return &tally{answers: make(map[statusCode]int64)} }

// record adds the answer a request of kind k got after latency.
func (t *tally) record(k int, a answer, latency time.Duration) {
	if a.err == nil {
		t.lat.Record(latency)
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if a.err != nil {
		t.transport++
		if t.firstErr == nil {
			t.firstErr = a.err
		}
		return
	}
	t.answers[statusCode{a.status, a.code}]++
	if a.status != kinds[k].status || a.code != kinds[k].code {
		t.unexpected++
	}
}

// answered counts requests that got an HTTP answer; errors counts the
// ones that got a transport error or a 5xx.
func (t *tally) counts() (answered, errors int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for k, n := range t.answers {
		answered += n
		if k.status >= 500 {
			errors += n
		}
	}
	return answered, errors + t.transport
}

// calibrate runs workers closed loops, each sending its next request as
// soon as the last one is answered, for d, and returns the rate of
// answers: the most this machine sustains with this generator.
func calibrate(ctx context.Context, t *target, workers int, d time.Duration) (float64, *tally) {
	tl := newTally()
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var next atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			var buf bytes.Buffer
			for ctx.Err() == nil {
				i := next.Add(1) - 1
				req := t.reqs[i%int64(len(t.reqs))]
				sent := time.Now()
				tl.record(req.kind, t.do(req, &buf), time.Since(sent))
			}
		})
	}
	wg.Wait()
	answered, _ := tl.counts()
	return float64(answered) / time.Since(start).Seconds(), tl
}

// outcome is what the open-loop phase measured.
type outcome struct {
	*tally
	scheduled, sent, dropped int64
	elapsed                  time.Duration // start to the last answer
	lag                      hist          // how late each request was queued
	interrupted              bool
}

// job is a request and the time it was due.
type job struct {
	req   request
	sched time.Time
}

// openLoop sends requests at rate per second for d, request k due at
// start + k/rate whether or not earlier ones were answered, and measures
// each latency from that due time, so a stall of the server shows up as
// the queueing delay devices would see rather than as fewer samples
// (coordinated omission). Due requests go to a queue that the workers'
// keep-alive loops drain, as a server's accept queue would hold them;
// with maxInflight requests queued or in flight, a due request is not
// sent and counts as dropped. A fixed set of connections keeps the
// generator's cost per request what calibration measured. openLoop
// returns once every sent request is answered or has timed out;
// cancelling ctx stops the schedule early.
func openLoop(ctx context.Context, t *target, rate float64, d time.Duration, workers, maxInflight int) *outcome {
	r := &outcome{tally: newTally(), scheduled: int64(d.Seconds() * rate)}
	queue := make(chan job, maxInflight)
	var inflight atomic.Int64 // queued or being sent
	var lastDone atomic.Int64 // nanoseconds after start, of the last answer
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			var buf bytes.Buffer
			for j := range queue {
				a := t.do(j.req, &buf)
				done := time.Now()
				r.record(j.req.kind, a, done.Sub(j.sched))
				inflight.Add(-1)
				storeMax(&lastDone, int64(done.Sub(start)))
			}
		})
	}
	r.schedule(ctx, t, start, rate, func(j job) bool {
		if inflight.Load() >= int64(maxInflight) {
			return false
		}
		inflight.Add(1)
		queue <- j // never blocks: only this goroutine sends, and inflight counts the queue
		return true
	})
	close(queue)
	wg.Wait()
	if r.elapsed = time.Duration(lastDone.Load()); r.elapsed == 0 {
		r.elapsed = time.Since(start)
	}
	return r
}

// schedule hands each request to send at its due time, counting the ones
// send refuses as dropped. It dispatches every request due by now, then
// sleeps until the next; a late wake-up dispatches a batch, each job
// keeping its own due time.
func (r *outcome) schedule(ctx context.Context, t *target, start time.Time, rate float64, send func(job) bool) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	at := func(k int64) time.Time { return start.Add(time.Duration(float64(k) * 1e9 / rate)) }
	for k := int64(0); k < r.scheduled; {
		now := time.Now()
		for ; k < r.scheduled && !at(k).After(now); k++ {
			j := job{t.reqs[k%int64(len(t.reqs))], at(k)}
			if !send(j) {
				r.dropped++
				continue
			}
			r.sent++
			r.lag.Record(now.Sub(j.sched))
		}
		if k == r.scheduled {
			return
		}
		timer.Reset(time.Until(at(k)))
		select {
		case <-ctx.Done():
			r.interrupted, r.scheduled = true, k
			return
		case <-timer.C:
		}
	}
}

// storeMax sets a to v if v is larger.
func storeMax(a *atomic.Int64, v int64) {
	for m := a.Load(); v > m && !a.CompareAndSwap(m, v); m = a.Load() {
	}
}
