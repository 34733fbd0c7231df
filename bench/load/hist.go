package main

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// subBits sets the histogram's precision: each power of two of
// nanoseconds is split into 2^(subBits-1) buckets, so a recorded value is
// off by at most 1/64 (about 1.6 %), as an HDR histogram with two
// significant digits.
const subBits = 7

// nBuckets covers every non-negative int64 of nanoseconds.
const nBuckets = (64 - subBits + 2) << (subBits - 1)

// hist is a fixed-size log-linear latency histogram, safe for concurrent
// Record calls; its size doesn't grow with the number of requests.
type hist struct {
	counts [nBuckets]atomic.Uint64
	n      atomic.Uint64
	max    atomic.Int64
}

func bucketOf(v uint64) int {
	if v < 1<<subBits {
		return int(v)
	}
	shift := bits.Len64(v) - subBits
	return shift<<(subBits-1) + int(v>>shift)
}

// upper is the largest value bucket i holds.
func upper(i int) uint64 {
	if i < 1<<subBits {
		return uint64(i)
	}
	shift := i>>(subBits-1) - 1
	m := uint64(i&(1<<(subBits-1)-1) | 1<<(subBits-1))
	return (m+1)<<shift - 1
}

// Record adds one latency; a negative one counts as zero.
func (h *hist) Record(d time.Duration) {
	d = max(d, 0)
	h.counts[bucketOf(uint64(d))].Add(1)
	h.n.Add(1)
	storeMax(&h.max, int64(d))
}

// Count is the number of recorded latencies.
func (h *hist) Count() uint64 { return h.n.Load() }

// Max is the largest recorded latency.
func (h *hist) Max() time.Duration { return time.Duration(h.max.Load()) }

// Quantile is the latency at or below which a fraction q of the recorded
// ones lie, rounded up to its bucket's bound (never above Max). It is 0
// for an empty histogram. Call it once recording has stopped.
func (h *hist) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	rank := max(uint64(math.Ceil(q*float64(n))), 1)
	var seen uint64
	for i := range h.counts {
		if seen += h.counts[i].Load(); seen >= rank {
			return min(time.Duration(upper(i)), h.Max())
		}
	}
	return h.Max()
}
