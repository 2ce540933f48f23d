package collect

import (
	"math"
	"sort"
	"sync"
	"time"
)

// The Aggregator's limits: what a peer may make it keep, whatever it
// sends. A point that would start a series over MaxSeries, or over
// MaxBytes, is dropped and counted (Aggregator.Dropped); a process over
// MaxProcesses or MaxBytes is refused with its points, and counted
// (Aggregator.DroppedProcesses). Forget makes room again.
const (
	MaxSeries    = 1 << 17
	MaxProcesses = 1 << 14
	// MaxBytes bounds the bytes the series and processes kept hold, as
	// counted by seriesBytes and processBytes: their names, attributes
	// and buckets, and a fixed cost each for the structs and map entries
	// around them.
	MaxBytes = 64 << 20
)

// The fixed costs of a series and of a process, beyond their text and
// buckets, as measured (TestFloodSeries, TestFloodProcesses): a
// process's counts its entries in a Collector's Window and Store too.
const (
	seriesCost  = 320
	processCost = 600
)

// Sample is one point of one series as the collector stores it: the
// producer's cumulative figures and what the collector derives from the
// series' previous point. Unknown values are NaN.
type Sample struct {
	Point
	AttrsJSON string
	// Rate is a counter's increase a second since the series' previous
	// point, or for its first point since the series' start (NaN if the
	// point has none).
	Rate float64
	// Count and Sum are a histogram's, cumulative.
	Count uint64
	Sum   float64
	// P50, P90 and P99 are a histogram's quantiles over what was recorded
	// since the series' previous point (over everything for its first).
	P50, P90, P99 float64
}

// ProcessInfo is what the aggregator knows of a process: when its batches
// came (the collector's clock) and how many.
type ProcessInfo struct {
	Process
	First, Last time.Time
	Batches     uint64
}

// Aggregator merges the batches of many processes on many hosts into
// series keyed by process instance, metric and attributes, keeping each
// series' latest point. Cumulative values need nothing more: the latest
// point holds the totals, and a point older than the latest (reordered)
// is ignored. A restarted process has a new instance id, so its series
// are new ones. It is safe for concurrent use.
type Aggregator struct {
	mu           sync.Mutex
	series       map[seriesKey]*series
	procs        map[string]*ProcessInfo
	bytes        int // of series and procs, as seriesBytes and processBytes count
	dropped      uint64
	droppedProcs uint64
}

// seriesKey is a series' identity: its strings are those its point holds,
// so a key costs no copy of them.
type seriesKey struct{ instance, metric, attrs string }

type series struct {
	pt    Point
	json  string // pt.Attrs as JSON
	bytes int
}

// NewAggregator returns an empty aggregator.
func NewAggregator() *Aggregator {
	return &Aggregator{series: make(map[seriesKey]*series), procs: make(map[string]*ProcessInfo)}
}

// seriesBytes is what a series' point holds: its text, its attributes
// (their strings within attrsJSON, see internAttrs) and its buckets.
func seriesBytes(p *Point, attrsJSON string) int {
	return seriesCost + len(p.Metric) + len(p.Unit) + len(attrsJSON) + 32*len(p.Attrs) + histBytes(p.Hist)
}

func histBytes(h *Hist) int {
	if h == nil {
		return 0
	}
	return 160 + 8*(len(h.Bounds)+len(h.Counts)+len(h.Pos)+len(h.Neg))
}

func processBytes(p *Process) int {
	return processCost + len(p.Instance) + len(p.Service) + len(p.Host)
}

// SeriesKey names a series in one string: a process's metric with its
// attributes (as JSON), as zprof top keys them. (The aggregator and the
// store key them by the same three strings, unjoined.)
func SeriesKey(instance, metric, attrsJSON string) string {
	return instance + "\x00" + metric + "\x00" + attrsJSON
}

// Add merges a batch received at now and returns its points as samples,
// less those older than their series' latest and those dropped over the
// limits (MaxSeries, MaxProcesses, MaxBytes). The samples of a series
// share its strings and attributes with the aggregator: they are not to
// be changed.
func (a *Aggregator) Add(b Batch, now time.Time) []Sample {
	a.mu.Lock()
	defer a.mu.Unlock()
	var refused map[string]bool
	for _, p := range b.Processes {
		pi := a.procs[p.Instance]
		if pi == nil {
			n := processBytes(&p)
			if len(a.procs) >= MaxProcesses || a.bytes+n > MaxBytes {
				a.droppedProcs++
				if refused == nil {
					refused = make(map[string]bool)
				}
				refused[p.Instance] = true
				continue
			}
			pi = &ProcessInfo{Process: p, First: now}
			a.procs[p.Instance] = pi
			a.bytes += n
		}
		pi.Last = now
		pi.Batches++
	}
	out := make([]Sample, 0, len(b.Points))
	for i := range b.Points {
		p := &b.Points[i]
		s := Sample{Point: *p, AttrsJSON: p.Attrs.JSON(), Rate: math.NaN(), P50: math.NaN(), P90: math.NaN(), P99: math.NaN()}
		key := seriesKey{p.Instance, p.Metric, s.AttrsJSON}
		prev := a.series[key]
		switch {
		case refused[p.Instance]:
			a.dropped++
			continue
		case prev != nil && p.Time <= prev.pt.Time:
			continue
		case prev != nil:
			// The series' own strings: this batch's copies become garbage.
			s.Instance, s.Metric, s.Unit, s.Attrs, s.AttrsJSON = prev.pt.Instance, prev.pt.Metric, prev.pt.Unit, prev.pt.Attrs, prev.json
			grow := histBytes(s.Hist) - histBytes(prev.pt.Hist)
			if grow > 0 && a.bytes+grow > MaxBytes {
				a.dropped++
				continue
			}
			derive(&s, &prev.pt)
			prev.pt, prev.bytes = s.Point, prev.bytes+grow
			a.bytes += grow
		default:
			n := seriesBytes(p, s.AttrsJSON)
			if len(a.series) >= MaxSeries || a.bytes+n > MaxBytes {
				a.dropped++
				continue
			}
			s.Attrs = internAttrs(s.Attrs, s.AttrsJSON)
			derive(&s, nil)
			a.series[key] = &series{pt: s.Point, json: s.AttrsJSON, bytes: n}
			a.bytes += n
		}
		out = append(out, s)
	}
	return out
}

// derive fills in what a sample's figures and its series' previous point
// (nil for the first) give. A series with a later start than its previous
// point's began again from zero (a producer that let it go to make room,
// see telemetry.MaxSeries, and made it anew): its figures are its own.
//
// A series' first point, when it carries its start, counts from zero at
// that start: a process that sent one batch (a short worker, flushing at
// its end) has a rate too, its mean over its life.
func derive(s *Sample, prev *Point) {
	if (prev == nil && s.Start > 0) || (prev != nil && s.Start > prev.Start) {
		prev = &Point{Start: s.Start, Time: s.Start}
	}
	if s.Kind == Counter && prev != nil && s.Value >= prev.Value && s.Time > prev.Time {
		s.Rate = (s.Value - prev.Value) / (float64(s.Time-prev.Time) / 1e9)
	}
	if s.Hist == nil {
		return
	}
	s.Count, s.Sum = s.Hist.Count, s.Hist.Sum
	h := s.Hist
	if prev != nil && prev.Hist != nil {
		if d, ok := s.Hist.Sub(prev.Hist); ok {
			h = d
		}
	}
	s.P50, s.P90, s.P99 = h.Quantile(0.5), h.Quantile(0.9), h.Quantile(0.99)
}

// Dropped returns the points dropped over the limits: those of new series
// over MaxSeries or MaxBytes, and those of processes refused.
func (a *Aggregator) Dropped() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropped
}

// DroppedProcesses returns the processes refused over MaxProcesses or
// MaxBytes, once a batch that named them.
func (a *Aggregator) DroppedProcesses() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.droppedProcs
}

// Processes returns the processes heard from, first heard first.
func (a *Aggregator) Processes() []ProcessInfo {
	a.mu.Lock()
	out := make([]ProcessInfo, 0, len(a.procs))
	for _, p := range a.procs {
		out = append(out, *p)
	}
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].First.Equal(out[j].First) {
			return out[i].First.Before(out[j].First)
		}
		return out[i].Instance < out[j].Instance
	})
	return out
}

// Process returns what the aggregator knows of the process instance.
func (a *Aggregator) Process(instance string) (ProcessInfo, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, ok := a.procs[instance]
	if !ok {
		return ProcessInfo{}, false
	}
	return *p, true
}

// Each calls f with the latest point of every series and its process, in
// no order, holding the aggregator's lock: f must not call it.
func (a *Aggregator) Each(f func(p *ProcessInfo, pt *Point)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.series {
		f(a.procs[s.pt.Instance], &s.pt)
	}
}

// Forget drops the processes not heard from since before, and their
// series: processes that ended, so that /metrics stops showing them.
func (a *Aggregator) Forget(before time.Time) { a.forget(before, false) }

// forget is Forget, and returns the processes kept when asked to, under
// the same lock: a Collector's Forget locks the aggregator once, and the
// store then tests its series against the set with neither waiting on the
// other's lock (the store's is held across a write to disk).
func (a *Aggregator) forget(before time.Time, keptSet bool) (kept map[string]struct{}) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for inst, p := range a.procs {
		if p.Last.Before(before) {
			delete(a.procs, inst)
			a.bytes -= processBytes(&p.Process)
		}
	}
	for k, s := range a.series {
		if a.procs[s.pt.Instance] == nil {
			delete(a.series, k)
			a.bytes -= s.bytes
		}
	}
	if !keptSet {
		return nil
	}
	kept = make(map[string]struct{}, len(a.procs))
	for inst := range a.procs {
		kept[inst] = struct{}{}
	}
	return kept
}
