package main

import (
	"math/bits"
	"sync"
	"time"
)

// histogram counts latencies in log-linear buckets: exact below 128 ns,
// and above it 128 buckets per power of two, so a percentile it reports is
// within 0.4% of the exact one. It is safe for concurrent use; recorders
// batch their samples (see recorder) so that the lock is rarely taken.
type histogram struct {
	mu     sync.Mutex
	counts []uint64
	total  uint64
	max    int64
}

const (
	subBits    = 7
	subBuckets = 1 << subBits // buckets per power of two
	maxShift   = 40           // durations up to 2^48 ns (3 days) keep their precision
	nBuckets   = subBuckets + (maxShift+1)*subBuckets
)

func newHistogram() *histogram { return &histogram{counts: make([]uint64, nBuckets)} }

// bucket returns the index of v's bucket.
func bucket(v int64) int {
	if v < subBuckets {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - (subBits + 1)
	if shift > maxShift {
		return nBuckets - 1
	}
	mantissa := int(v>>shift) - subBuckets // 0 … 127
	return subBuckets + shift*subBuckets + mantissa
}

// bucketMid returns the middle of bucket i's range of values.
func bucketMid(i int) int64 {
	if i < subBuckets {
		return int64(i)
	}
	shift := (i - subBuckets) / subBuckets
	mantissa := int64((i-subBuckets)%subBuckets + subBuckets)
	low := mantissa << shift
	return low + (int64(1)<<shift)/2
}

// add records samples, in nanoseconds.
func (h *histogram) add(samples ...int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, v := range samples {
		h.counts[bucket(v)]++
		h.total++
		if v > h.max {
			h.max = v
		}
	}
}

// count returns how many samples were recorded.
func (h *histogram) count() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.total
}

// quantile returns the value below which a fraction q of the samples lie
// (the nearest-rank definition: the smallest sample with at least q·n
// samples at or below it), to the bucket's precision (exact for the
// maximum); zero without samples.
func (h *histogram) quantile(q float64) time.Duration {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.total == 0 {
		return 0
	}
	rank := uint64(q * float64(h.total))
	if float64(rank) < q*float64(h.total) {
		rank++
	}
	if rank < 1 {
		rank = 1
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			if seen == h.total {
				return time.Duration(h.max) // the last bucket holds the maximum, known exactly
			}
			return time.Duration(bucketMid(i))
		}
	}
	return time.Duration(h.max)
}

// recorder batches one goroutine's samples into a shared histogram.
type recorder struct {
	h   *histogram
	buf []int64
}

func newRecorder(h *histogram) *recorder { return &recorder{h: h, buf: make([]int64, 0, 256)} }

func (r *recorder) record(d time.Duration) {
	r.buf = append(r.buf, int64(d))
	if len(r.buf) == cap(r.buf) {
		r.flush()
	}
}

func (r *recorder) flush() {
	if len(r.buf) > 0 {
		r.h.add(r.buf...)
		r.buf = r.buf[:0]
	}
}
