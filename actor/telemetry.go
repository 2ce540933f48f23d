package actor

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/zmqflow/zmqflow/telemetry"
)

// Profiling (package telemetry). An actor or supervisor made while
// profiling is on, and given no observer of its own or of its supervisor,
// gets a profObserver: its figures go to the telemetry registry under its
// name, or its kind's when it was given none (config.profileName). One
// made while profiling is off gets NopObserver, and its path is
// as if package telemetry were not there.

// profObserver records one actor's figures. MessageHandled comes from the
// actor's goroutine only (one incarnation at a time), and for a sample of
// the messages (see samplePeriodMask), so the histograms are Recorders,
// published by the cell once a batch (publish); the rest may come from any
// goroutine and goes to totals of the actor's own, which its series read
// through functions.
//
// Every series of the actor is fed by functions and Recorders, which
// release removes when the actor stops for good (ActorStopped) or never
// started, their totals kept: so a program that gives its actors names of
// their own (a session's, a peer's) leaves series that may make room for
// others once the registry is full (telemetry.MaxSeries). A dead letter,
// failure or restart that comes after that (a dead letter told to the
// stopped actor) is still given to its series, once (flush).
type profObserver struct {
	name               string         // what it is measured as
	attr               telemetry.Attr // the actor attribute of its series
	queueing, handling *telemetry.Recorder
	figs               figureReporter // what it reports as Figures

	deadLetters, errs, restarts total
	blocked                     total // ns at a full mailbox, sampled (the queue's addBlocked)
	released                    atomic.Bool

	mu      sync.Mutex
	removes []func() // at release: the recorders' and functions' series keep their totals
}

// total is one of an actor's totals, and its series (metric, unit; unit
// "" for a duration). The series reads it through read until the actor is
// released, and is given what it gains after that (flush). seen is what
// the series has of it, so that each part goes to the series once: read
// runs under the series' lock, and never again once removed, so seen ends
// at the value that the removal kept; if the registry was full and read
// never ran, seen is 0, and the series is given the whole total.
type total struct {
	n            telemetry.Counter
	seen         atomic.Uint64
	metric, unit string
}

func (t *total) read() uint64 {
	v := t.n.Load()
	t.seen.Store(v)
	return v
}

// register makes metric (with unit) t's series, adds t's function to it,
// with attribute a, and returns its removal.
func (t *total) register(metric, unit string, a telemetry.Attr) func() {
	t.metric, t.unit = metric, unit
	return t.addTo(t.read, a)
}

// addTo adds f to t's series, with attribute a, and returns its removal.
func (t *total) addTo(f func() uint64, a telemetry.Attr) func() {
	if t.unit == "" {
		return telemetry.DurationFunc(t.metric, func() time.Duration { return time.Duration(f()) }, a)
	}
	return telemetry.CounterFunc(t.metric, t.unit, f, a)
}

func newProfObserver(name string) *profObserver {
	a := telemetry.String(telemetry.AttrActor, name)
	o := &profObserver{name: name, attr: a}
	var rq, rh func()
	o.queueing, rq = telemetry.NewRecorder(telemetry.MetricActorQueueing, a)
	o.handling, rh = telemetry.NewRecorder(telemetry.MetricActorHandling, a)
	o.removes = []func(){
		rq, rh,
		o.deadLetters.register(telemetry.MetricActorDeadLetters, "{message}", a),
		o.errs.register(telemetry.MetricActorErrors, "{error}", a),
		o.restarts.register(telemetry.MetricActorRestarts, "{restart}", a),
		o.blocked.register(telemetry.MetricActorBlocked, "", a),
	}
	return o
}

// watch adds an actor's counts that its cell keeps anyway to its series:
// the messages it handled, and its mailbox depth. Nothing more is recorded
// per message for them.
func (o *profObserver) watch(handled func() uint64, depth func() int) {
	in := telemetry.CounterFunc(telemetry.MetricActorMessages, "{message}", handled,
		o.attr, telemetry.String(telemetry.AttrDirection, "in"))
	d := telemetry.GaugeFunc(telemetry.MetricActorMailboxDepth, "{message}", func() int64 { return int64(depth()) }, o.attr)
	o.mu.Lock()
	o.removes = append(o.removes, in, d)
	o.mu.Unlock()
}

func (o *profObserver) ActorStarted(string) {}

func (o *profObserver) ActorFailed(string, error) { o.add(&o.errs, 1) }

func (o *profObserver) ActorRestarted(string, int, error) { o.add(&o.restarts, 1) }

func (o *profObserver) ActorStopped(string, error) { o.release() }

func (o *profObserver) DeadLetter(DeadLetter) { o.add(&o.deadLetters, 1) }

// addBlocked adds ns to the time senders waited for room: the queue, for a
// sample of the waits, with the mailbox's lock held, so it never calls
// into the registry. A wait that ends after the actor was released (a
// sender woken by its stop) is left out of the estimate.
func (o *profObserver) addBlocked(ns uint64) { o.blocked.n.Add(ns) }

// add adds n to t. Once the actor is released, the adder gives the series
// what it gained itself (flush); one that finds it not released yet added
// before release's own flush, which gives it.
func (o *profObserver) add(t *total, n uint64) {
	t.n.Add(n)
	if o.released.Load() {
		o.flush(t)
	}
}

// releaseProfile lets the series of obs go if it is the profiler: for an
// actor or supervisor that never started, and so reports no ActorStopped.
func releaseProfile(obs Observer) {
	if po, ok := obs.(*profObserver); ok {
		po.release()
	}
}

// release lets the actor's recorders and functions go, their totals kept
// in their series, and then gives the series what came since their last
// read. Only the first call does anything: a second one, even at the same
// time, would give what the first's removals are about to keep.
func (o *profObserver) release() {
	if o.letGo() {
		o.settle()
	}
}

// letGo removes the recorders and functions, once: it reports whether
// this call did.
func (o *profObserver) letGo() bool {
	o.mu.Lock()
	rms := o.removes
	o.removes = nil
	o.mu.Unlock()
	for _, rm := range rms {
		rm()
	}
	return rms != nil
}

// settle marks the actor released, and gives the series what came since
// letGo's removals read the totals.
func (o *profObserver) settle() {
	o.released.Store(true)
	for _, t := range []*total{&o.deadLetters, &o.errs, &o.restarts, &o.blocked} {
		o.flush(t)
	}
}

// flush gives t's series what t gained since the series last had it. The
// series is made again if it was let go meanwhile (with a start time of
// its own), or the figure is counted as a series dropped if the registry
// is full; it is not held either way.
func (o *profObserver) flush(t *total) {
	for {
		seen, n := t.seen.Load(), t.n.Load()
		if n <= seen {
			return
		}
		if !t.seen.CompareAndSwap(seen, n) {
			continue
		}
		d := n - seen
		t.addTo(func() uint64 { return d }, o.attr)() // its removal keeps d
		return
	}
}

func (o *profObserver) MessageHandled(_ string, queued, handling time.Duration, _ error) {
	o.queueing.RecordNs(int64(queued))
	o.handling.RecordNs(int64(handling))
}

// publish makes the timings recorded so far visible to the exporter: the
// actor's goroutine, at the end of each batch of messages, so that the
// records of a batch cost one atomic store, not one each.
func (o *profObserver) publish() {
	o.queueing.Publish()
	o.handling.Publish()
}

func (o *profObserver) Counter(actor, name string, total uint64) { o.figs.Counter(actor, name, total) }

func (o *profObserver) Level(actor, name string, value int64) { o.figs.Level(actor, name, value) }

// ProfileFigures returns Figures that go to package telemetry, when
// profiling is on (telemetry.Enabled), and nil when it is off: for a
// component that reports figures to its observer and was given none. Each
// call returns a reporter of its own, so that the figures of components of
// one name (the Workers of a process) add up in one series. Safe for
// concurrent use.
func ProfileFigures() Figures {
	if !telemetry.Enabled() {
		return nil
	}
	return &figureReporter{}
}

var profFigures = &figureSeries{}

// figureReporter is one component's figures: it remembers the totals and
// levels it reported last, and adds the change to the series that all
// components of the name share.
type figureReporter struct {
	mu   sync.Mutex
	last map[figureKey]int64 // last reported
}

// figureKey names one figure of one actor, a total or a level.
type figureKey struct {
	actor, name string
	level       bool
}

func (r *figureReporter) change(k figureKey, v int64) int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.last == nil {
		r.last = map[figureKey]int64{}
	}
	d := v - r.last[k]
	r.last[k] = v
	return d
}

func (r *figureReporter) Counter(actor, name string, total uint64) {
	if d := r.change(figureKey{actor, name, false}, int64(total)); d > 0 { // a total never goes down
		profFigures.counter(actor, name).Add(uint64(d))
	}
}

func (r *figureReporter) Level(actor, name string, value int64) {
	if d := r.change(figureKey{actor, name, true}, value); d != 0 {
		profFigures.gauge(actor, name).Add(d)
	}
}

// figureSeries keeps the series of every actor's figures, found without
// allocating once made: figures are reported after every change.
type figureSeries struct {
	totals, levels sync.Map // actor name -> *sync.Map of figure name -> instrument
}

func (f *figureSeries) counter(actor, name string) *telemetry.Counter {
	return figure(&f.totals, actor, name, func() any {
		return telemetry.NewCounter(telemetry.MetricActorFigureTotal, "1",
			telemetry.String(telemetry.AttrActor, actor), telemetry.String(telemetry.AttrFigure, name))
	}).(*telemetry.Counter)
}

func (f *figureSeries) gauge(actor, name string) *telemetry.Gauge {
	return figure(&f.levels, actor, name, func() any {
		return telemetry.NewGauge(telemetry.MetricActorFigureLevel, "1",
			telemetry.String(telemetry.AttrActor, actor), telemetry.String(telemetry.AttrFigure, name))
	}).(*telemetry.Gauge)
}

func figure(m *sync.Map, actor, name string, make func() any) any {
	byName, ok := m.Load(actor)
	if !ok {
		byName, _ = m.LoadOrStore(actor, new(sync.Map))
	}
	names := byName.(*sync.Map)
	if v, ok := names.Load(name); ok {
		return v
	}
	v, _ := names.LoadOrStore(name, make())
	return v
}
