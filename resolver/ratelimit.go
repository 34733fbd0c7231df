package resolver

import (
	"hash/maphash"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Rate is a token-bucket limit: a key may make Burst requests at once and
// PerSecond requests a second after that.
type Rate struct {
	// PerSecond is the sustained rate (0.2 is 12 a minute); zero or
	// negative disables the limit.
	PerSecond float64
	// Burst is the bucket size; below 1 it is max(1, ⌈PerSecond⌉).
	Burst int
}

// DefaultRateKeys bounds the keys each limiter tracks when
// [Config.RateKeys] is zero: about 200 bytes each.
const DefaultRateKeys = 100_000

// maxRetryAfter caps the Retry-After hint; Gen N plugins cap their block
// at 24 h anyway (capgo-protocol.md §1.3).
const maxRetryAfter = 24 * 60 * 60

// limitKey is what a limiter buckets by: comparable, cheap to hash, and
// cloned before it is stored so a key never pins a request's memory.
type limitKey[K any] interface {
	comparable
	hash(maphash.Seed) uint64
	clone() K
}

// ipKey is a client address: an IPv4 address, or the /64 of an IPv6 one
// (one subscriber gets a whole /64, so single addresses are free to rotate).
type ipKey netip.Addr

func (k ipKey) hash(s maphash.Seed) uint64 {
	b := netip.Addr(k).As16()
	return maphash.Bytes(s, b[:])
}

func (k ipKey) clone() ipKey { return k }

// appDevice is a device of an app.
type appDevice struct{ app, device string }

func (k appDevice) hash(s maphash.Seed) uint64 { return maphash.String(s, k.device) }

func (k appDevice) clone() appDevice { return appDevice{strings.Clone(k.app), strings.Clone(k.device)} }

const limiterShards = 16

// limiter is a set of token buckets, one per key, in shards that each
// hold at most max keys and evict their least recently seen key to admit
// a new one. Evicting a key forgets its debt, so under a flood of new keys
// the limit weakens rather than memory growing. Safe for concurrent use.
type limiter[K limitKey[K]] struct {
	rate, burst float64
	seed        maphash.Seed
	start       time.Time
	shards      [limiterShards]limiterShard[K]
}

type limiterShard[K comparable] struct {
	mu         sync.Mutex
	max        int
	m          map[K]*bucket[K]
	head, tail *bucket[K] // most and least recently seen
}

type bucket[K comparable] struct {
	key        K
	tokens     float64
	last       time.Duration // since limiter.start (monotonic)
	prev, next *bucket[K]
}

// newLimiter returns a limiter for r tracking at most keys keys, or nil
// when r is disabled.
func newLimiter[K limitKey[K]](r Rate, keys int) *limiter[K] {
	if r.PerSecond <= 0 {
		return nil
	}
	if r.Burst < 1 {
		r.Burst = max(1, int(math.Ceil(r.PerSecond)))
	}
	if keys <= 0 {
		keys = DefaultRateKeys
	}
	l := &limiter[K]{rate: r.PerSecond, burst: float64(r.Burst), seed: maphash.MakeSeed(), start: time.Now()}
	per := (keys + limiterShards - 1) / limiterShards
	for i := range l.shards {
		l.shards[i].max, l.shards[i].m = per, make(map[K]*bucket[K])
	}
	return l
}

// allow takes a token from k's bucket. When none is left it reports false
// and the whole seconds until one is.
func (l *limiter[K]) allow(k K) (ok bool, retryAfter int) {
	now := time.Since(l.start)
	sh := &l.shards[k.hash(l.seed)%limiterShards]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	b := sh.m[k]
	if b == nil {
		b = sh.insert(k.clone())
		b.tokens = l.burst
	} else {
		sh.unlink(b)
		sh.pushFront(b)
		b.tokens = min(l.burst, b.tokens+(now-b.last).Seconds()*l.rate)
	}
	b.last = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := math.Ceil((1 - b.tokens) / l.rate)
	return false, int(min(max(wait, 1), maxRetryAfter))
}

// len returns the number of tracked keys.
func (l *limiter[K]) len() int {
	n := 0
	for i := range l.shards {
		sh := &l.shards[i]
		sh.mu.Lock()
		n += len(sh.m)
		sh.mu.Unlock()
	}
	return n
}

// insert adds k, which it keeps, at the front, reusing the least recently seen bucket when
// the shard is full.
func (sh *limiterShard[K]) insert(k K) *bucket[K] {
	var b *bucket[K]
	if len(sh.m) >= sh.max {
		b = sh.tail
		sh.unlink(b)
		delete(sh.m, b.key)
		*b = bucket[K]{}
	} else {
		b = new(bucket[K])
	}
	b.key = k
	sh.m[k] = b
	sh.pushFront(b)
	return b
}

func (sh *limiterShard[K]) unlink(b *bucket[K]) {
	if b.prev != nil {
		b.prev.next = b.next
	} else {
		sh.head = b.next
	}
	if b.next != nil {
		b.next.prev = b.prev
	} else {
		sh.tail = b.prev
	}
	b.prev, b.next = nil, nil
}

func (sh *limiterShard[K]) pushFront(b *bucket[K]) {
	b.next = sh.head
	if sh.head != nil {
		sh.head.prev = b
	}
	sh.head = b
	if sh.tail == nil {
		sh.tail = b
	}
}

// clientIP returns the bucket key of the request's client. With
// trustProxy it is the last address of X-Forwarded-For, the one the proxy
// in front appended (earlier entries are whatever the client sent);
// otherwise the connection's peer. ok is false when neither parses.
func clientIP(r *http.Request, trustProxy bool) (k ipKey, ok bool) {
	if v := r.Header["X-Forwarded-For"]; trustProxy && len(v) > 0 {
		last := v[len(v)-1]
		if i := strings.LastIndexByte(last, ','); i >= 0 {
			last = last[i+1:]
		}
		if a, err := netip.ParseAddr(strings.TrimSpace(last)); err == nil {
			return ipKeyOf(a), true
		}
	}
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	a, err := netip.ParseAddr(host)
	if err != nil {
		return ipKey{}, false
	}
	return ipKeyOf(a), true
}

func ipKeyOf(a netip.Addr) ipKey {
	a = a.Unmap().WithZone("")
	if a.Is6() {
		p, _ := a.Prefix(64)
		a = p.Addr()
	}
	return ipKey(a)
}

// allowIP applies the per-IP limit and answers 429 when it refuses.
func (s *Server) allowIP(w http.ResponseWriter, r *http.Request) bool {
	if s.ipLimit == nil {
		return true
	}
	k, ok := clientIP(r, s.cfg.TrustProxy)
	if !ok {
		return true
	}
	if ok, wait := s.ipLimit.allow(k); !ok {
		s.metrics.rateLimited(limiterIP)
		writeTooMany(w, "", wait)
		return false
	}
	return true
}

// allowDevice applies the per-device limit to a parsed update request and
// answers 429 when it refuses.
func (s *Server) allowDevice(w http.ResponseWriter, req *Request) bool {
	if s.devLimit == nil {
		return true
	}
	if ok, wait := s.devLimit.allow(appDevice{req.AppID, req.DeviceID}); !ok {
		s.metrics.rateLimited(limiterDevice)
		writeTooMany(w, req.AppID, wait)
		return false
	}
	return true
}

// writeTooMany answers 429 too_many_requests in the backend's thrown-error
// shape (capgo-protocol.md §1.2, on_error.ts) with the wait in both the
// Retry-After header and moreInfo.retryAfterSeconds, which Gen N plugins
// honour by skipping calls until then (§1.3). kind "failed" as in
// [AppendFailure].
func writeTooMany(w http.ResponseWriter, app string, wait int) {
	buf := make([]byte, 0, 192)
	buf = append(buf, `{"error":`...)
	buf = appendString(buf, CodeTooManyRequests)
	buf = appendKV(buf, "message", messages[CodeTooManyRequests])
	buf = append(buf, `,"moreInfo":{`...)
	if app != "" {
		buf = append(appendString(buf, "app_id"), ':')
		buf = append(appendString(buf, app), ',')
	}
	buf = append(buf, `"retryAfterSeconds":`...)
	buf = strconv.AppendInt(buf, int64(wait), 10)
	buf = append(buf, '}')
	buf = appendKV(buf, "kind", KindFailed)
	buf = append(buf, '}')
	w.Header()["Retry-After"] = []string{strconv.Itoa(wait)}
	writeJSON(w, http.StatusTooManyRequests, buf)
}
