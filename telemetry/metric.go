package telemetry

import (
	"math"
	"sync/atomic"
)

// Counter is a total that only grows: a monotonic cumulative Sum on the
// wire. Its methods are safe for concurrent use and never block; Add is one
// atomic add.
type Counter struct{ v atomic.Uint64 }

// Add adds n to the total.
func (c *Counter) Add(n uint64) { c.v.Add(n) }

// Load returns the total.
func (c *Counter) Load() uint64 { return c.v.Load() }

// Set sets the total, for a total kept elsewhere and reported whole (an
// actor's Figures). It must not go down.
func (c *Counter) Set(total uint64) { c.v.Store(total) }

// Gauge is a level that goes up and down: an OTLP Gauge. Its methods are
// safe for concurrent use and never block.
type Gauge struct{ v atomic.Int64 }

// Set sets the level.
func (g *Gauge) Set(v int64) { g.v.Store(v) }

// Add moves the level by d.
func (g *Gauge) Add(d int64) { g.v.Add(d) }

// Load returns the level.
func (g *Gauge) Load() int64 { return g.v.Load() }

// The buckets of every Histogram: OTLP exponential buckets at one fixed
// scale, so that histograms from any process and any interval merge by
// adding counts bucket by bucket.
const (
	// Scale is the exponential histograms' scale: 2^Scale buckets per
	// doubling, each bucket (base^i, base^(i+1)] with base = 2^(2^-Scale),
	// about 9% wide.
	Scale = 3
	// bucketsPerOctave is 2^Scale.
	bucketsPerOctave = 1 << Scale
	// minIndex and maxIndex bound the buckets kept: 2^-32 s (a quarter of
	// a nanosecond) to 2^16 s (18 hours). Values beyond go to the end
	// buckets, so that a histogram's buckets are a fixed set, recorded
	// without a lock.
	minIndex = -32 * bucketsPerOctave
	maxIndex = 16*bucketsPerOctave - 1
	nBuckets = maxIndex - minIndex + 1
)

// octaveBounds are the mantissa bits of 2^(k/8) for k = 1..7: the bucket
// boundaries inside one doubling.
var octaveBounds = func() (b [bucketsPerOctave - 1]uint64) {
	for k := range b {
		b[k] = math.Float64bits(math.Exp2(float64(k+1)/bucketsPerOctave)) & mantissaMask
	}
	return b
}()

const mantissaMask = 1<<52 - 1

// octaveCell maps the top 8 bits of a mantissa to how many of
// octaveBounds lie below that 1/256 of the octave. A bucket is wider than
// 23 cells, so at most one boundary falls inside a cell: one comparison
// settles it.
var octaveCell = func() (t [256]uint8) {
	for c := range t {
		lo := uint64(c) << 44
		for _, b := range octaveBounds {
			if b < lo {
				t[c]++
			}
		}
	}
	return t
}()

// bucketIndex returns the OTLP index of the bucket that holds v > 0 at
// Scale: the i with base^i < v <= base^(i+1). It reads the exponent and
// looks the mantissa up, rather than take a logarithm.
func bucketIndex(v float64) int {
	bits := math.Float64bits(v)
	exp := int(bits>>52&0x7ff) - 1023
	mant := bits & mantissaMask
	if exp == -1023 { // subnormal: far below minIndex anyway
		return minIndex
	}
	if mant == 0 { // an exact power of two is the top of the bucket below
		return exp*bucketsPerOctave - 1
	}
	k := int(octaveCell[mant>>44])
	if k < len(octaveBounds) && mant > octaveBounds[k] {
		k++
	}
	return exp*bucketsPerOctave + k
}

// Histogram is a distribution of durations in OTLP exponential buckets at
// Scale, cumulative since it was made. Record is lock-free: two atomic adds.
// Its methods are safe for concurrent use.
//
// Its buckets come in chunks of chunkSize, each made when a value first
// falls in its range: the times of one actor span a few decades, and all
// nBuckets would hold 3 KB live per series, mostly zeros. In a program whose
// heap is small, every kilobyte profiling keeps live brings the next GC
// cycle closer. Record allocates only for the first value of a chunk.
type Histogram struct {
	zero   atomic.Uint64 // values <= 0
	sumNs  atomic.Int64
	chunks [nChunks]atomic.Pointer[[chunkSize]atomic.Uint64]
}

const (
	chunkSize = 32 // buckets: four doublings
	nChunks   = nBuckets / chunkSize
)

// RecordNs records a duration in nanoseconds.
func (h *Histogram) RecordNs(ns int64) {
	if ns <= 0 {
		h.zero.Add(1)
		return
	}
	h.sumNs.Add(ns)
	h.bucket(bucketOf(float64(ns) * 1e-9)).Add(1)
}

// RecordSeconds records a duration in seconds.
func (h *Histogram) RecordSeconds(s float64) {
	if !(s > 0) {
		h.zero.Add(1)
		return
	}
	h.sumNs.Add(int64(s * 1e9))
	h.bucket(bucketOf(s)).Add(1)
}

// bucketOf returns the position among a histogram's buckets of the one that
// holds s > 0 seconds, values beyond the ends in the end buckets.
func bucketOf(s float64) int { return min(max(bucketIndex(s), minIndex), maxIndex) - minIndex }

// bucket returns bucket i (bucketOf), making its chunk if need be.
func (h *Histogram) bucket(i int) *atomic.Uint64 {
	k, j := uint(i)/chunkSize, uint(i)%chunkSize
	c := h.chunks[k].Load()
	if c == nil {
		c = h.makeChunk(k)
	}
	return &c[j]
}

func (h *Histogram) makeChunk(k uint) *[chunkSize]atomic.Uint64 {
	c := new([chunkSize]atomic.Uint64)
	if !h.chunks[k].CompareAndSwap(nil, c) {
		c = h.chunks[k].Load() // another recorder made it first
	}
	return c
}

// Recorder is a Histogram written by one goroutine at a time (an actor's,
// from its own goroutine), read by the exporter at any time. Its Record
// puts the raw duration in a ring with a plain store: on amd64 every
// atomic write is a locked instruction, and a Histogram's record takes
// two. The writer publishes what it put there with one atomic store every
// publishEvery records, and whenever it calls Publish (an actor, at the
// end of each batch of messages); the reader (the exporter, once a batch,
// or remove) takes the published records into its series' counts, with
// plain adds under the series' lock. A record that finds the ring full,
// because the reader has not come by since, goes into the series'
// histogram directly, with its atomic adds, and so does a duration too long
// for the ring (over 4 s). A Recorder keeps no buckets of its own, only its
// ring of 1 KB, for the reason Histogram's buckets come in chunks. Make
// one with NewRecorder; two goroutines recording at once lose counts.
type Recorder struct {
	w, pub uint64 // the writer's: the records it put in the ring, and published
	_      [48]byte
	wpub   atomic.Uint64 // pub, for the reader
	read   atomic.Uint64 // the reader's: the records it took from the ring
	_      [48]byte
	ring   [ringSize]uint32 // durations in ns (0 for <= 0): written before they are published, read after
	into   *Histogram       // the series' histogram: the records that found the ring full
	acc    *histAcc         // the series' counts of the records taken from the rings: the reader's
}

// ringSize is the Recorder's ring: twice what an actor's sampling records
// in an interval. publishEvery bounds the records a reader may not see
// yet, and is well below it.
const (
	ringSize     = 256 // a power of two
	publishEvery = 32
)

// RecordNs records a duration in nanoseconds.
func (r *Recorder) RecordNs(ns int64) {
	w := r.w
	if w-r.read.Load() >= ringSize || ns > math.MaxUint32 { // full (the reader has not come by), or long
		r.into.RecordNs(ns)
		return
	}
	r.ring[w%ringSize] = uint32(max(ns, 0))
	r.w = w + 1
	if r.w-r.pub >= publishEvery {
		r.Publish()
	}
}

// Publish makes the records so far visible to the reader. The writer's,
// as RecordNs.
func (r *Recorder) Publish() {
	if r.w != r.pub {
		r.pub = r.w
		r.wpub.Store(r.w)
	}
}

// drain takes the published records into the series' counts (acc), with
// plain adds. The reader's alone: under the series' lock.
func (r *Recorder) drain() {
	pos, end := r.read.Load(), r.wpub.Load()
	for ; pos != end; pos++ {
		r.acc.recordNs(int64(r.ring[pos%ringSize]))
	}
	r.read.Store(pos)
}

// histAcc is a histogram that one goroutine at a time writes, with plain
// adds: a series' counts of what the exporter took from its recorders'
// rings. Its buckets come in chunks, as a Histogram's.
type histAcc struct {
	zero   uint64
	sumNs  int64
	chunks [nChunks]*[chunkSize]uint64
}

func (a *histAcc) recordNs(ns int64) {
	if ns <= 0 {
		a.zero++
		return
	}
	a.sumNs += ns
	i := uint(bucketOf(float64(ns) * 1e-9))
	c := a.chunks[i/chunkSize]
	if c == nil {
		c = a.makeChunk(i / chunkSize)
	}
	c[i%chunkSize]++
}

func (a *histAcc) makeChunk(k uint) *[chunkSize]uint64 {
	c := new([chunkSize]uint64)
	a.chunks[k] = c
	return c
}

// histSnap is a histogram read for a batch: the buckets from the first
// non-empty one to the last, and the count they add up to, so that count
// and buckets agree even while others record.
type histSnap struct {
	count, zero uint64
	sum         float64
	hasSum      bool
	offset      int32
	counts      []uint64
}

// snapshot reads h, with a's counts added (a may be nil). Each of h's
// buckets is read once, so that the count is the buckets' sum.
func snapshot(h *Histogram, a *histAcc) histSnap {
	var b [nBuckets]uint64 // on the stack: the exporter's goroutine
	zero, sumNs := h.zero.Load(), h.sumNs.Load()
	for k := range h.chunks {
		if c := h.chunks[k].Load(); c != nil {
			for j := range c {
				b[k*chunkSize+j] = c[j].Load()
			}
		}
	}
	if a != nil {
		zero, sumNs = zero+a.zero, sumNs+a.sumNs
		for k, c := range a.chunks {
			if c != nil {
				for j, n := range c {
					b[k*chunkSize+j] += n
				}
			}
		}
	}
	s := histSnap{zero: zero, count: zero, sum: float64(sumNs) * 1e-9, hasSum: true}
	first, last := -1, -1
	for i, n := range b {
		if n != 0 {
			if first < 0 {
				first = i
			}
			last = i
			s.count += n
		}
	}
	if first >= 0 {
		s.offset = int32(first + minIndex)
		s.counts = append([]uint64(nil), b[first:last+1]...)
	}
	return s
}

func (h *Histogram) snapshot() histSnap { return snapshot(h, nil) }
