package telemetry

import (
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
// batch past MaxBatchBytes. Instruments asked for beyond it still work but
// are not shipped; they are counted in MetricSeriesDropped.
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
	ctr        Counter
	gauge      Gauge
	hist       *Histogram

	// Under mu. Slices, not maps: most series have one or two of each,
	// and a map costs a few hundred bytes however few it holds.
	mu      sync.Mutex
	funcs   []*seriesFunc
	shards  []*Recorder
	drained *histAcc // what the exporter took from its recorders' rings; made with the first Recorder
}

// seriesFunc is a function added to a series; its address tells it apart.
type seriesFunc struct{ f func() int64 }

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
}

var reg = &registry{byKey: make(map[string]*series)}

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

// get returns the series of name and attrs, made on first use, or nil
// beyond MaxSeries. A name asked for with another kind is another series
// only if its attributes differ; the first kind wins.
func (r *registry) get(name, unit string, k kind, attrs []Attr) *series {
	key := seriesKey(name, attrs)
	r.mu.Lock()
	defer r.mu.Unlock()
	if s := r.byKey[key]; s != nil {
		return s
	}
	if len(r.order) >= MaxSeries {
		r.dropped.Add(1)
		return nil
	}
	s := &series{name: name, unit: unit, kind: k, attrs: append([]Attr(nil), attrs...)}
	if k == kindHist {
		s.hist = new(Histogram)
	}
	r.byKey[key] = s
	r.order = append(r.order, s)
	return s
}

func (r *registry) all() []*series {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*series(nil), r.order...)
}

// NewCounter returns the process-wide Counter of the metric name with
// attrs, made on first use: every caller with the same name and attributes
// shares it, so that actors of one name add up. unit is an OTLP unit
// ("{message}", "By").
func NewCounter(name, unit string, attrs ...Attr) *Counter {
	if s := reg.get(name, unit, kindSum, attrs); s != nil && s.kind == kindSum {
		return &s.ctr
	}
	return new(Counter)
}

// NewDuration returns a process-wide Counter of nanoseconds, shipped as a
// Sum in seconds, shared as NewCounter's.
func NewDuration(name string, attrs ...Attr) *Counter {
	if s := reg.get(name, "s", kindDuration, attrs); s != nil && s.kind == kindDuration {
		return &s.ctr
	}
	return new(Counter)
}

// NewGauge returns the process-wide Gauge of name with attrs, shared as
// NewCounter's.
func NewGauge(name, unit string, attrs ...Attr) *Gauge {
	if s := reg.get(name, unit, kindGauge, attrs); s != nil && s.kind == kindGauge {
		return &s.gauge
	}
	return new(Gauge)
}

// NewHistogram returns the process-wide Histogram of durations of name
// with attrs, shared as NewCounter's.
func NewHistogram(name string, attrs ...Attr) *Histogram {
	if s := reg.get(name, "s", kindHist, attrs); s != nil && s.kind == kindHist {
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
	r = new(Recorder)
	s := reg.get(name, "s", kindHist, attrs)
	if s == nil || s.kind != kindHist {
		// Not shipped: nobody reads its ring, and once that is full its
		// records go into a histogram of its own.
		r.into = new(Histogram)
		return r, func() {}
	}
	r.into = s.hist
	s.mu.Lock()
	if s.drained == nil {
		s.drained = new(histAcc)
	}
	r.acc = s.drained
	s.shards = append(s.shards, r)
	s.mu.Unlock()
	var once sync.Once
	return r, func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.shards = without(s.shards, r)
			r.drain()
		})
	}
}

// GaugeFunc adds f to the Gauge of name with attrs: each batch reads f,
// and the gauge is the sum of its functions (the mailbox depths of every
// actor of one name, for instance). remove takes f out; call it when what
// f reads goes away. f is called from the exporter's goroutine and must be
// quick and safe for concurrent use.
func GaugeFunc(name, unit string, f func() int64, attrs ...Attr) (remove func()) {
	return addFunc(name, unit, kindGauge, f, false, attrs)
}

// CounterFunc adds f, a total that only grows, to the Counter of name with
// attrs, as GaugeFunc does. After remove, f's last value stays in the
// total, so that totals stay exact when a socket closes.
func CounterFunc(name, unit string, f func() uint64, attrs ...Attr) (remove func()) {
	return addFunc(name, unit, kindSum, func() int64 { return int64(f()) }, true, attrs)
}

func addFunc(name, unit string, k kind, f func() int64, keep bool, attrs []Attr) func() {
	s := reg.get(name, unit, k, attrs)
	if s == nil || s.kind != k {
		return func() {}
	}
	sf := &seriesFunc{f}
	s.mu.Lock()
	s.funcs = append(s.funcs, sf)
	s.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.funcs = without(s.funcs, sf); len(s.funcs) == 0 {
				// A closed socket's series outlive it, to keep its
				// totals: an empty slice would stay live with them.
				s.funcs = nil
			}
			if keep {
				s.ctr.Add(uint64(f()))
			}
			s.mu.Unlock()
		})
	}
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
