package telemetry

import (
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Attr is one attribute of a series: a key and a string or an integer
// value. Make them with String and Int.
type Attr struct {
	Key   string
	Str   string
	Int   int64
	IsInt bool
}

// String is a string attribute.
func String(key, value string) Attr { return Attr{Key: key, Str: value} }

// Int is an integer attribute.
func Int(key string, value int64) Attr { return Attr{Key: key, Int: value, IsInt: true} }

// MaxSeries bounds the series the registry holds, so that a program that
// names a new actor or opens a new socket for every request cannot grow a
// batch past MaxBatchBytes. When it is reached, a new series takes the
// place of the first made of those that are done: its functions and
// Recorders (a closed socket's, a stopped actor's) are all gone, and a
// batch read since then, with its last totals, was handed to the transport
// (handed, not delivered: a batch the transport loses takes them with it,
// as it does any batch's figures). The collector has those totals as the
// series' last point; if the series is made again later, it starts from
// zero, and, as every series made after one was let go, carries a start
// time of its own. Instruments asked for when no done series has been
// shipped still work but are not shipped; they are counted in
// MetricSeriesDropped. A series handed out as an instrument (NewCounter,
// NewGauge, NewDuration, NewHistogram) is never done: its holder may use
// it at any time.
const MaxSeries = 2000

type kind uint8

const (
	kindSum      kind = iota // Counter, monotonic cumulative Sum, as_int
	kindDuration             // Counter of nanoseconds, Sum in seconds, as_double
	kindGauge                // Gauge, as_int
	kindHist                 // Histogram, ExponentialHistogram in seconds
)

// series is one metric with one set of attributes: its stored instrument,
// plus the functions of live sources that are added to it when it is read.
type series struct {
	name, unit string
	kind       kind
	attrs      []Attr
	start      uint64 // when its totals began, Unix ns; 0 for the process's start
	ctr        Counter
	gauge      Gauge
	hist       *Histogram
	reg        *registry

	// Under reg.mu. direct: handed out as an instrument, so never done.
	// users counts its functions and Recorders, from their get to their
	// removal; done is 0 until the last of them is gone, and then the
	// number of the first read of the registry that carries its final
	// figures (see registry.evict).
	direct bool
	users  int
	done   uint64

	// Under mu. Slices, not maps: most series have one or two of each,
	// and a map costs a few hundred bytes however few it holds.
	mu      sync.Mutex
	funcs   []*seriesFunc
	shards  []*Recorder
	drained *histAcc // what the exporter took from its recorders' rings; made with the first Recorder
}

// letGo counts one function or Recorder out of the series' users, once it
// has removed it, its last figures in: when it was the last, the series is
// done once the next read of the registry is shipped. The caller holds mu,
// so that a read sees the series' sources and figures whole.
func (s *series) letGo() {
	r := s.reg
	r.mu.Lock()
	defer r.mu.Unlock()
	if s.users--; s.users == 0 && !s.direct {
		s.done = r.reads + 1
		r.retired++
	}
}

// seriesFunc is a function added to a series; its address tells it apart.
// With keep, its last value stays in the series' total when it is removed.
type seriesFunc struct {
	f    func() int64
	s    *series
	keep bool
	once sync.Once
}

// histogram reads the series' histogram, with what its recorders
// published taken into it.
func (s *series) histogram() histSnap {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, r := range s.shards {
		r.drain()
	}
	return snapshot(s.hist, s.drained)
}

func (s *series) value() int64 {
	// Under mu, so that a func's removal, which moves its last value into
	// ctr, is seen whole: a total never dips.
	s.mu.Lock()
	var v int64
	switch s.kind {
	case kindGauge:
		v = s.gauge.Load()
	default:
		v = int64(s.ctr.Load())
	}
	for _, sf := range s.funcs {
		v += sf.f()
	}
	s.mu.Unlock()
	return v
}

// registry is the process-wide set of series, in the order they were made
// (so that batches list them in a stable order).
type registry struct {
	mu      sync.Mutex
	byKey   map[string]*series
	order   []*series
	dropped atomic.Uint64 // instruments beyond MaxSeries

	// Under mu. reads numbers the exporter's reads of the registry, and
	// shipped is the number of the last one whose batch the transport
	// took: a done series may go once shipped reaches its done (see
	// evict). retired counts the series that became done, and idle is
	// what shipped and retired were at the last eviction that found
	// nothing, so that a full registry with nothing done is not searched
	// again for every new instrument. evicted: a series has made room, so
	// that later ones carry their start.
	reads, shipped, retired uint64
	idle                    [2]uint64
	evicted                 bool
}

var reg = newRegistry()

func newRegistry() *registry { return &registry{byKey: make(map[string]*series)} }

func seriesKey(name string, attrs []Attr) string {
	var b strings.Builder
	b.WriteString(name)
	for _, a := range attrs {
		b.WriteByte(0)
		b.WriteString(a.Key)
		b.WriteByte(0)
		if a.IsInt {
			b.WriteString(strconv.FormatInt(a.Int, 10))
		} else {
			b.WriteString(a.Str)
		}
	}
	return b.String()
}

// How a series is used: handed out as an instrument, or given a function
// or a Recorder (a source).
const (
	useDirect = iota
	useSource
)

// get returns the series of name and attrs, made on first use, or nil
// beyond MaxSeries when no done series has been shipped (see evict). A
// name asked for with another kind is another series only if its
// attributes differ; the first kind wins. For use useSource, a series of
// kind k counts the source the caller adds next among its users, until
// the caller's letGo.
//
// Lock order: a series' mu, then the registry's, never the other way: a
// series' mu is held while its functions run, and those are the caller's.
func (r *registry) get(name, unit string, k kind, attrs []Attr, use int) *series {
	key := seriesKey(name, attrs)
	r.mu.Lock()
	defer r.mu.Unlock()
	s := r.byKey[key]
	if s == nil {
		if len(r.order) >= MaxSeries && !r.evict() {
			r.dropped.Add(1)
			return nil
		}
		s = &series{name: name, unit: unit, kind: k, attrs: append([]Attr(nil), attrs...), reg: r}
		if r.evicted {
			// It may be one made again: its totals start now.
			s.start = uint64(time.Now().UnixNano())
		}
		if k == kindHist {
			s.hist = new(Histogram)
		}
		r.byKey[key] = s
		r.order = append(r.order, s)
	}
	switch {
	case s.kind != k: // the caller makes an instrument of its own
	case use == useDirect:
		s.direct = true
	default:
		s.users++
	}
	return s
}

// evict lets go of the first made of the series that are done and whose
// last figures were shipped, and reports whether there was one. The caller
// holds mu.
func (r *registry) evict() bool {
	if r.idle == [2]uint64{r.shipped, r.retired} {
		return false
	}
	for i, s := range r.order {
		if !s.direct && s.users == 0 && s.done != 0 && s.done <= r.shipped {
			delete(r.byKey, seriesKey(s.name, s.attrs))
			r.order = slices.Delete(r.order, i, i+1)
			r.evicted = true
			return true
		}
	}
	r.idle = [2]uint64{r.shipped, r.retired}
	return false
}

// read returns the series, for a batch, and the read's number: once the
// transport has taken the batch, pass it to wasShipped.
func (r *registry) read() ([]*series, uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reads++
	return append([]*series(nil), r.order...), r.reads
}

// wasShipped records that the batch of read n was handed to the transport.
func (r *registry) wasShipped(n uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.shipped = max(r.shipped, n)
}

// NewCounter returns the process-wide Counter of the metric name with
// attrs, made on first use: every caller with the same name and attributes
// shares it, so that actors of one name add up. unit is an OTLP unit
// ("{message}", "By").
func NewCounter(name, unit string, attrs ...Attr) *Counter {
	if s := reg.get(name, unit, kindSum, attrs, useDirect); s != nil && s.kind == kindSum {
		return &s.ctr
	}
	return new(Counter)
}

// NewDuration returns a process-wide Counter of nanoseconds, shipped as a
// Sum in seconds, shared as NewCounter's.
func NewDuration(name string, attrs ...Attr) *Counter {
	if s := reg.get(name, "s", kindDuration, attrs, useDirect); s != nil && s.kind == kindDuration {
		return &s.ctr
	}
	return new(Counter)
}

// NewGauge returns the process-wide Gauge of name with attrs, shared as
// NewCounter's.
func NewGauge(name, unit string, attrs ...Attr) *Gauge {
	if s := reg.get(name, unit, kindGauge, attrs, useDirect); s != nil && s.kind == kindGauge {
		return &s.gauge
	}
	return new(Gauge)
}

// NewHistogram returns the process-wide Histogram of durations of name
// with attrs, shared as NewCounter's.
func NewHistogram(name string, attrs ...Attr) *Histogram {
	if s := reg.get(name, "s", kindHist, attrs, useDirect); s != nil && s.kind == kindHist {
		return s.hist
	}
	return new(Histogram)
}

// NewRecorder returns a Recorder of its own, for one goroutine, that adds
// to the histogram of name with attrs. remove leaves its published counts
// in the series and lets it go; call it when the goroutine is done
// recording and has called Publish (an actor that stopped for good). Safe
// for concurrent use.
func NewRecorder(name string, attrs ...Attr) (r *Recorder, remove func()) {
	return reg.recorder(name, attrs)
}

// recorder is NewRecorder in r.
func (r *registry) recorder(name string, attrs []Attr) (rec *Recorder, remove func()) {
	rec = new(Recorder)
	s := r.get(name, "s", kindHist, attrs, useSource)
	if s == nil || s.kind != kindHist {
		// Not shipped: nobody reads its ring, and once that is full its
		// records go into a histogram of its own.
		rec.into = new(Histogram)
		return rec, func() {}
	}
	rec.into = s.hist
	s.mu.Lock()
	if s.drained == nil {
		s.drained = new(histAcc)
	}
	rec.acc = s.drained
	s.shards = append(s.shards, rec)
	s.mu.Unlock()
	var once sync.Once
	return rec, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.shards = without(s.shards, rec)
			rec.drain()
			s.letGo()
		})
	}
}

// GaugeFunc adds f to the Gauge of name with attrs: each batch reads f,
// and the gauge is the sum of its functions (the mailbox depths of every
// actor of one name, for instance). remove takes f out; call it when what
// f reads goes away. f is called from the exporter's goroutine and must be
// quick and safe for concurrent use.
func GaugeFunc(name, unit string, f func() int64, attrs ...Attr) (remove func()) {
	return reg.addFunc(name, unit, kindGauge, f, false, attrs)
}

// CounterFunc adds f, a total that only grows, to the Counter of name with
// attrs, as GaugeFunc does. remove reads f once more, on its caller's
// goroutine, and that last value stays in the total, so that totals stay
// exact when a socket closes; f is never called after remove returns.
func CounterFunc(name, unit string, f func() uint64, attrs ...Attr) (remove func()) {
	return reg.addFunc(name, unit, kindSum, func() int64 { return int64(f()) }, true, attrs)
}

// DurationFunc adds f, a time that only grows, to the Duration of name
// with attrs (a Sum in seconds, as NewDuration's), as CounterFunc does.
func DurationFunc(name string, f func() time.Duration, attrs ...Attr) (remove func()) {
	return reg.addFunc(name, "s", kindDuration, func() int64 { return int64(f()) }, true, attrs)
}

func (r *registry) addFunc(name, unit string, k kind, f func() int64, keep bool, attrs []Attr) func() {
	s := r.get(name, unit, k, attrs, useSource)
	if s == nil || s.kind != k {
		return func() {}
	}
	return s.addFunc(f, keep)
}

// addFunc adds f to s, which get has counted it among the users of, and
// returns its removal: with keep, f's last value stays in s's total.
func (s *series) addFunc(f func() int64, keep bool) func() {
	sf := &seriesFunc{f: f, s: s, keep: keep}
	s.mu.Lock()
	s.funcs = append(s.funcs, sf)
	s.mu.Unlock()
	return sf.remove
}

// remove takes sf out of its series, once.
func (sf *seriesFunc) remove() {
	sf.once.Do(func() {
		s := sf.s
		s.mu.Lock()
		if s.funcs = without(s.funcs, sf); len(s.funcs) == 0 {
			// A closed socket's series outlive it, to keep its
			// totals: an empty slice would stay live with them.
			s.funcs = nil
		}
		if sf.keep {
			s.ctr.Add(uint64(sf.f()))
		}
		s.letGo()
		s.mu.Unlock()
	})
}

// without returns xs without x, in another order.
func without[T comparable](xs []T, x T) []T {
	for i, y := range xs {
		if y == x {
			last := len(xs) - 1
			xs[i] = xs[last]
			var zero T
			xs[last] = zero
			return xs[:last]
		}
	}
	return xs
}
