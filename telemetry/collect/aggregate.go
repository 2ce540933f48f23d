package collect

import (
	"math"
	"sort"
	"sync"
	"time"
)

// MaxSeries bounds the series an Aggregator keeps: a point that would
// start one more is dropped and counted (Aggregator.Dropped).
const MaxSeries = 1 << 17

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
	mu      sync.Mutex
	series  map[string]*Point
	procs   map[string]*ProcessInfo
	dropped uint64
}

// NewAggregator returns an empty aggregator.
func NewAggregator() *Aggregator {
	return &Aggregator{series: make(map[string]*Point), procs: make(map[string]*ProcessInfo)}
}

func seriesKey(p *Point, attrs string) string { return SeriesKey(p.Instance, p.Metric, attrs) }

// SeriesKey names a series: a process's metric with its attributes (as
// JSON). The aggregator, the store and zprof top key series by it.
func SeriesKey(instance, metric, attrsJSON string) string {
	return instance + "\x00" + metric + "\x00" + attrsJSON
}

// Add merges a batch received at now and returns its points as samples,
// less those older than their series' latest and those dropped over
// MaxSeries.
func (a *Aggregator) Add(b Batch, now time.Time) []Sample {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, p := range b.Processes {
		pi := a.procs[p.Instance]
		if pi == nil {
			pi = &ProcessInfo{Process: p, First: now}
			a.procs[p.Instance] = pi
		}
		pi.Last = now
		pi.Batches++
	}
	out := make([]Sample, 0, len(b.Points))
	for i := range b.Points {
		p := &b.Points[i]
		s := Sample{Point: *p, AttrsJSON: p.Attrs.JSON(), Rate: math.NaN(), P50: math.NaN(), P90: math.NaN(), P99: math.NaN()}
		key := seriesKey(p, s.AttrsJSON)
		prev := a.series[key]
		switch {
		case prev != nil && p.Time <= prev.Time:
			continue
		case prev == nil && len(a.series) >= MaxSeries:
			a.dropped++
			continue
		}
		derive(&s, prev)
		a.series[key] = &s.Point
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

// Dropped returns the points dropped because MaxSeries was reached.
func (a *Aggregator) Dropped() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dropped
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
	for _, pt := range a.series {
		f(a.procs[pt.Instance], pt)
	}
}

// Forget drops the processes not heard from since before, and their
// series: processes that ended, so that /metrics stops showing them.
func (a *Aggregator) Forget(before time.Time) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for inst, p := range a.procs {
		if p.Last.Before(before) {
			delete(a.procs, inst)
		}
	}
	for k, pt := range a.series {
		if a.procs[pt.Instance] == nil {
			delete(a.series, k)
		}
	}
}
