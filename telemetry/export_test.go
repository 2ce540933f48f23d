package telemetry

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/internal/shell"
)

// wait bounds every wait in the tests.
const wait = 15 * time.Second

var runSeq atomic.Int64

// fakeSender stands for the socket transport: it keeps what it took, or
// refuses everything (a collector that is absent).
type fakeSender struct {
	mu       sync.Mutex
	batches  [][][]byte
	refuse   bool
	closed   bool
	closeErr error // what Close returns
}

var errFull = errors.New("fake: no room")

func (f *fakeSender) TrySend(frames [][]byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.refuse {
		return errFull
	}
	f.batches = append(f.batches, frames)
	return nil
}

func (f *fakeSender) Close(context.Context) error {
	f.mu.Lock()
	f.closed = true
	f.mu.Unlock()
	return f.closeErr
}

func (f *fakeSender) last(t *testing.T) [][]byte {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.batches) == 0 {
		t.Fatal("no batch sent")
	}
	return f.batches[len(f.batches)-1]
}

// useFake makes the transport a fake for the test.
func useFake(t *testing.T, f *fakeSender) {
	t.Helper()
	prev := transport.Load() // socket's, when the examples link it
	SetTransport(func(string) (Sender, error) { return f, nil })
	t.Cleanup(func() {
		_ = Stop(context.Background())
		transport.Store(prev)
	})
}

func stop(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	defer cancel()
	if err := Stop(ctx); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// The batch that Stop sends holds the exact totals, and every kind of
// figure: a counter, a duration, a gauge, a histogram, the process's.
func TestStopFlushesExactTotals(t *testing.T) {
	f := &fakeSender{}
	useFake(t, f)
	if err := Start(context.Background(), "inproc://collector", WithInterval(time.Hour), WithName("flush")); err != nil {
		t.Fatal(err)
	}
	if !Enabled() {
		t.Fatal("not Enabled after Start")
	}
	run := fmt.Sprintf("%s-%d", t.Name(), runSeq.Add(1)) // series are cumulative: each run its own
	who := String(AttrActor, run)
	c := NewCounter("test.count", "{message}", who)
	d := NewDuration("test.blocked", who)
	g := NewGauge("test.depth", "{message}", who)
	h := NewHistogram("test.handling", who)
	r, remove := NewRecorder("test.handling", who)
	const n = 12345
	for i := range n {
		c.Add(1)
		h.RecordNs(int64(i))
		r.RecordNs(int64(i))
	}
	remove()
	d.Add(1_500_000_000)
	g.Set(-4)
	live := 7
	rmGauge := GaugeFunc("test.peers", "{peer}", func() int64 { return int64(live) }, who)
	defer rmGauge()
	rmCounter := CounterFunc("test.sent", "{message}", func() uint64 { return 99 }, who)
	rmCounter() // its last value stays

	stop(t)
	if Enabled() {
		t.Fatal("Enabled after Stop")
	}
	got := figures(t, f.last(t))
	key := "{" + AttrActor + "=" + run + "}"
	want := map[string]float64{
		"test.count" + key:    n,
		"test.blocked" + key:  1.5,
		"test.depth" + key:    -4,
		"test.handling" + key: 2 * n,
		"test.peers" + key:    7,
		"test.sent" + key:     99,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for _, name := range []string{MetricGoroutines + "{}", MetricProcessMemoryUsage + "{}", MetricProcessCPUTime + "{cpu.mode=user}", MetricBatchesDropped + "{}"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no %s in the batch", name)
		}
	}
	if got[MetricGoroutines+"{}"] < 1 || got[MetricProcessMemoryUsage+"{}"] <= 0 {
		t.Errorf("process figures: %v goroutines, %v bytes", got[MetricGoroutines+"{}"], got[MetricProcessMemoryUsage+"{}"])
	}
	if _, ok := got[MetricGCPause+"{}"]; !ok {
		t.Error("no GC pauses")
	}
	if !f.closed {
		t.Error("transport not closed at Stop")
	}
}

// With the collector absent (the transport refuses every batch), recording
// goes on unhindered, Stop returns, and the dropped batches are counted.
func TestAbsentCollectorDropsAndCounts(t *testing.T) {
	f := &fakeSender{refuse: true}
	useFake(t, f)
	before := ReadStats().BatchesDropped
	if err := Start(context.Background(), "tcp://127.0.0.1:9", WithInterval(10*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	c := NewCounter("test.absent", "{message}")
	deadline := time.Now().Add(wait)
	for ReadStats().BatchesDropped < before+3 {
		for range 1000 {
			c.Add(1)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d batches dropped within %v, want 3", ReadStats().BatchesDropped-before, wait)
		}
		time.Sleep(time.Millisecond) // the exporter's interval is what we wait for
	}
	stop(t)
	if n := ReadStats().BatchesDropped - before; n < 4 {
		t.Errorf("%d batches dropped, want the refused ones and Stop's", n)
	}
}

func TestTaskSpans(t *testing.T) {
	f := &fakeSender{}
	useFake(t, f)
	if err := Start(context.Background(), "inproc://collector", WithInterval(time.Hour)); err != nil {
		t.Fatal(err)
	}
	t0 := time.Unix(2000, 0)
	for i := range 3 {
		var err error
		if i == 2 {
			err = errors.New("bad point")
		}
		Task(TaskSpan{Label: "point", Worker: "w", Slot: i, Index: 10 + i, Start: t0, End: t0.Add(time.Duration(i+1) * time.Second), Err: err})
	}
	stop(t)
	ss := spans(t, f.last(t))
	if len(ss) != 3 {
		t.Fatalf("%d spans, want 3", len(ss))
	}
	for i, s := range ss {
		if s.Name != "point" || s.EndTimeUnixNano-s.StartTimeUnixNano != uint64(i+1)*1e9 {
			t.Errorf("span %d: %q %d..%d", i, s.Name, s.StartTimeUnixNano, s.EndTimeUnixNano)
		}
		a := attrMap(t, s.Attributes)
		if a[AttrSlot] != int64(i) || a[AttrTask] != int64(10+i) || a[AttrWorker] != "w" {
			t.Errorf("span %d attributes %v", i, a)
		}
	}
	if ss[2].Status.Message != "bad point" {
		t.Errorf("failed task's status %v", ss[2].Status)
	}
	Task(TaskSpan{Label: "after"}) // off: nothing, no panic
}

func TestTasksOverBoundDropped(t *testing.T) {
	f := &fakeSender{}
	useFake(t, f)
	if err := Start(context.Background(), "inproc://collector", WithInterval(time.Hour)); err != nil {
		t.Fatal(err)
	}
	before := ReadStats().TasksDropped
	for range MaxTasks + 5 {
		Task(TaskSpan{Label: "t"})
	}
	if n := ReadStats().TasksDropped - before; n != 5 {
		t.Errorf("%d tasks dropped, want 5", n)
	}
	stop(t)
	if n := len(spans(t, f.last(t))); n != MaxTasks {
		t.Errorf("%d spans, want %d", n, MaxTasks)
	}
}

func TestStartErrors(t *testing.T) {
	f := &fakeSender{}
	useFake(t, f)
	for _, ep := range []string{"", "localhost:5580", "udp://x:1", "tcp://", "tcp://a b:1"} {
		if err := Start(context.Background(), ep); !errors.Is(err, ErrEndpoint) {
			t.Errorf("Start(%q) = %v, want ErrEndpoint", ep, err)
		}
	}
	if err := Start(context.Background(), "tcp://127.0.0.1:9"); err != nil {
		t.Fatal(err)
	}
	if err := Start(context.Background(), "tcp://127.0.0.1:9"); !errors.Is(err, ErrRunning) {
		t.Errorf("second Start = %v, want ErrRunning", err)
	}
	stop(t)
	SetTransport(nil)
	if err := Start(context.Background(), "tcp://127.0.0.1:9"); !errors.Is(err, ErrNoTransport) {
		t.Errorf("Start without transport = %v, want ErrNoTransport", err)
	}
}

// A ctx that ends stops the exporter as Stop would, without waiting for
// delivery; Stop afterwards returns at once.
func TestStartCtxEnds(t *testing.T) {
	f := &fakeSender{}
	useFake(t, f)
	ctx, cancel := context.WithCancel(context.Background())
	if err := Start(ctx, "inproc://collector", WithInterval(time.Hour)); err != nil {
		t.Fatal(err)
	}
	cancel()
	deadline := time.Now().Add(wait)
	for Enabled() {
		if time.Now().After(deadline) {
			t.Fatal("still on after ctx ended")
		}
		time.Sleep(time.Millisecond)
	}
	stop(t)
	_ = f.last(t) // the last batch went
}

// A program whose figures do not reach the collector says so once on
// stderr, however many batches are lost: batches refused while it runs,
// or a last batch that Stop could not deliver.
func TestLostFiguresSaidOnce(t *testing.T) {
	var out strings.Builder
	prevOut := warnOut
	warnOut = &out
	t.Cleanup(func() { warnOut = prevOut; warned.Store(false); warnedAbsent.Store(false) })

	warned.Store(false)
	f := &fakeSender{refuse: true}
	useFake(t, f)
	before := ReadStats().BatchesDropped
	if err := Start(context.Background(), "tcp://127.0.0.1:9", WithInterval(10*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(wait)
	for ReadStats().BatchesDropped < before+3 {
		if time.Now().After(deadline) {
			t.Fatalf("%d batches dropped within %v, want 3", ReadStats().BatchesDropped-before, wait)
		}
		time.Sleep(time.Millisecond) // the exporter's interval is what we wait for
	}
	stop(t)
	if n := strings.Count(out.String(), "\n"); n != 1 || !strings.Contains(out.String(), "tcp://127.0.0.1:9: the collector is absent or slow") {
		t.Errorf("stderr %q, want one line about the collector", out.String())
	}

	out.Reset()
	warned.Store(false)
	useFake(t, &fakeSender{closeErr: errFull})
	if err := Start(context.Background(), "tcp://127.0.0.1:9"); err != nil {
		t.Fatal(err)
	}
	if err := Stop(context.Background()); !errors.Is(err, errFull) {
		t.Fatalf("Stop: %v, want the transport's error", err)
	}
	if n := strings.Count(out.String(), "\n"); n != 1 || !strings.Contains(out.String(), "the last batch was not delivered: "+errFull.Error()) {
		t.Errorf("stderr %q, want one line about the last batch", out.String())
	}
}

// A bad ZMQFLOW_PROFILE leaves profiling off, with a line on stderr.
func TestEnvBad(t *testing.T) {
	f := &fakeSender{}
	useFake(t, f)
	for _, v := range []string{"localhost:5580", "tcp://", "http://x:1"} {
		t.Setenv(EnvProfile, v)
		startFromEnv()
		if on.Load() {
			t.Fatalf("%s=%q turned profiling on", EnvProfile, v)
		}
	}
	t.Setenv(EnvProfile, "tcp://127.0.0.1:9")
	startFromEnv()
	if !on.Load() {
		t.Fatal("a good endpoint left profiling off")
	}
	stop(t)
}

func TestParseStatm(t *testing.T) {
	for in, want := range map[string]int64{"100 25 3 4 0 5 0\n": 25, "1 2": 2, "": -1, "1": -1, "1 -2": -1, "1 x": -1, "1 99999999999999999999": -1} {
		n, ok := parseStatm([]byte(in))
		if (want < 0) == ok || (ok && n != want) {
			t.Errorf("parseStatm(%q) = %d, %v; want %d", in, n, ok, want)
		}
	}
}

// A Recorder's published records reach its series exactly, whether the
// reader took them from the ring (lap after lap, at any point), or they
// found the ring full.
func TestRecorderRingExact(t *testing.T) {
	who := String(AttrActor, fmt.Sprintf("%s-%d", t.Name(), runSeq.Add(1)))
	r, remove := NewRecorder("test.ring", who)
	s := reg.get("test.ring", "s", kindHist, []Attr{who}, useDirect)
	var want Histogram // the same records, straight into a histogram
	r.RecordNs(-5)     // the zero bucket
	want.RecordNs(-5)
	ns := int64(3)
	for i := range 5 * ringSize {
		for range i % 7 { // 0 to 6 records between reads: the ring goes round
			r.RecordNs(ns)
			want.RecordNs(ns)
			ns = (ns*7 + 1) % (1 << 40)
		}
		if i%97 == 0 { // and now and then, more than it holds
			for range ringSize + 5 {
				r.RecordNs(ns)
				want.RecordNs(ns)
				ns++
			}
		}
		if i%5 == 0 {
			r.Publish() // an actor's batch ends
		}
		if i%3 == 0 {
			_ = s.histogram() // the exporter reads
		}
	}
	r.RecordNs(0)
	want.RecordNs(0)
	r.Publish()
	if got, w := s.histogram(), want.snapshot(); !reflect.DeepEqual(got, w) {
		t.Fatalf("live: got %+v\nwant %+v", got, w)
	}
	remove()
	if got, w := s.histogram(), want.snapshot(); !reflect.DeepEqual(got, w) {
		t.Fatalf("removed: got %+v\nwant %+v", got, w)
	}
}

// Each batch carries its own figures, a recorder's histogram included,
// and one the transport still holds is not changed by the next.
func TestBatchesKeepTheirOwn(t *testing.T) {
	run := fmt.Sprintf("%s-%d", t.Name(), runSeq.Add(1))
	who := String(AttrActor, run)
	c := NewCounter("test.count", "{message}", who)
	r, remove := NewRecorder("test.handling", who)
	defer remove()
	e := newExporter(config{name: "keep"}, nil, "inproc://keep")
	key := "{" + AttrActor + "=" + run + "}"
	var held [][][]byte // what the transport would still hold
	for i := 1; i <= 3; i++ {
		c.Add(1)
		r.RecordNs(int64(i) * 1000)
		r.Publish()
		frames, _, _ := e.batch()
		held = append(held, frames)
	}
	for i, frames := range held {
		got := figures(t, frames)
		if got["test.count"+key] != float64(i+1) || got["test.handling"+key] != float64(i+1) {
			t.Errorf("batch %d: count %v, histogram count %v, want %d of each",
				i, got["test.count"+key], got["test.handling"+key], i+1)
		}
	}
}

// Only a batch the transport took counts as shipped, for the registry to
// let series go (MaxSeries): not one it refused.
func TestShipMarksOnlyTakenBatches(t *testing.T) {
	shipped := func() uint64 {
		reg.mu.Lock()
		defer reg.mu.Unlock()
		return reg.shipped
	}
	e := newExporter(config{name: "ship"}, nil, "inproc://ship")
	before := shipped()
	e.ship(&fakeSender{refuse: true})
	if s := shipped(); s != before {
		t.Fatalf("a refused batch counted as shipped: %d, was %d", s, before)
	}
	e.ship(&fakeSender{})
	if s := shipped(); s <= before {
		t.Fatalf("a taken batch not counted as shipped: %d, was %d", s, before)
	}
}

// A counter's functions come and go (actors of one name made one after
// the other): each one's last value stays in the total when it is taken
// out, also after the series had none left for a while.
func TestCounterFuncsComeAndGo(t *testing.T) {
	who := String(AttrActor, fmt.Sprintf("%s-%d", t.Name(), runSeq.Add(1)))
	s := reg.get("test.handled", "{message}", kindSum, []Attr{who}, useDirect)
	want := int64(0)
	for i := range 3 {
		n := uint64(10 * (i + 1))
		remove := CounterFunc("test.handled", "{message}", func() uint64 { return n }, who)
		if got := s.value(); got != want+int64(n) {
			t.Fatalf("round %d, live: %d, want %d", i, got, want+int64(n))
		}
		remove()
		remove() // a second call does nothing
		want += int64(n)
		if got := s.value(); got != want {
			t.Fatalf("round %d, removed: %d, want %d", i, got, want)
		}
	}
}

// An absent collector (ErrNoCollector) is the same news for a parent and
// the children it started with ChildEnv: the parent says it, once, for
// all of them, with how to start one, and a child says nothing of it. A
// child still reports a loss of its own.
func TestAbsentCollectorSaidByParent(t *testing.T) {
	var out strings.Builder
	prevOut := warnOut
	warnOut = &out
	t.Cleanup(func() { warnOut = prevOut; warned.Store(false); warnedAbsent.Store(false); children.Store(false) })
	absent := fmt.Errorf("fake: 1 messages: %w", ErrNoCollector)
	lastBatch := func(closeErr error) {
		t.Helper()
		out.Reset()
		warned.Store(false)
		warnedAbsent.Store(false)
		useFake(t, &fakeSender{closeErr: closeErr})
		if err := Start(context.Background(), "tcp://127.0.0.1:9"); err != nil {
			t.Fatal(err)
		}
		if err := Stop(context.Background()); !errors.Is(err, closeErr) {
			t.Fatalf("Stop: %v, want the transport's error", err)
		}
	}

	t.Setenv(EnvProfileChild, "1")
	lastBatch(absent)
	if out.Len() != 0 {
		t.Errorf("a child said %q of an absent collector, want nothing", out.String())
	}
	lastBatch(errFull)
	if n := strings.Count(out.String(), "\n"); n != 1 || !strings.Contains(out.String(), "the last batch was not delivered: "+errFull.Error()) {
		t.Errorf("a child's own loss: stderr %q, want one line about it", out.String())
	}

	t.Setenv(EnvProfileChild, "")
	lastBatch(absent)
	want := "zmqflow: profiling to tcp://127.0.0.1:9: no collector there: the profile of this process was not delivered; start one with: zprof collect -bind 'tcp://*:9' -db profile.db\n"
	if out.String() != want {
		t.Errorf("stderr %q, want %q", out.String(), want)
	}

	useFake(t, &fakeSender{closeErr: absent})
	if err := Start(context.Background(), "tcp://127.0.0.1:9"); err != nil {
		t.Fatal(err)
	}
	if env := ChildEnv(); len(env) != 1 || env[0] != EnvProfileChild+"=1" {
		t.Fatalf("ChildEnv() = %q", env)
	}
	out.Reset()
	warned.Store(false)
	warnedAbsent.Store(false)
	_ = Stop(context.Background())
	if !strings.Contains(out.String(), "the profile of this process and its child processes was not delivered") {
		t.Errorf("stderr %q, want the children named", out.String())
	}
	if env := ChildEnv(); env != nil {
		t.Errorf("ChildEnv() = %q with profiling off, want nil: the child speaks for itself", env)
	}
}

// A parent that said another loss first (a slow collector: batches
// refused) still says, once, that no collector is there when that comes:
// its children, quiet about it, count on that line.
func TestAbsentCollectorSaidAfterSlow(t *testing.T) {
	var out lockedBuilder
	prevOut := warnOut
	warnOut = &out
	t.Cleanup(func() { warnOut = prevOut; warned.Store(false); warnedAbsent.Store(false); children.Store(false) })
	warned.Store(false)
	warnedAbsent.Store(false)
	t.Setenv(EnvProfileChild, "")

	absent := fmt.Errorf("fake: 1 messages: %w", ErrNoCollector)
	useFake(t, &fakeSender{refuse: true, closeErr: absent})
	before := ReadStats().BatchesDropped
	if err := Start(context.Background(), "tcp://127.0.0.1:9", WithInterval(10*time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if env := ChildEnv(); len(env) != 1 {
		t.Fatalf("ChildEnv() = %q", env)
	}
	deadline := time.Now().Add(wait)
	for ReadStats().BatchesDropped == before {
		if time.Now().After(deadline) {
			t.Fatalf("no batch dropped within %v", wait)
		}
		time.Sleep(time.Millisecond) // the exporter's interval is what we wait for
	}
	if err := Stop(context.Background()); !errors.Is(err, ErrNoCollector) {
		t.Fatalf("Stop: %v, want the transport's error", err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "the collector is absent or slow") ||
		!strings.Contains(lines[1], "no collector there: the profile of this process and its child processes was not delivered") {
		t.Errorf("stderr %q, want the slow collector, then the absent one for the children", out.String())
	}

	// Said once: a second absent collector says nothing more, and nor
	// does another loss after it.
	out.Reset()
	useFake(t, &fakeSender{refuse: true, closeErr: absent})
	if err := Start(context.Background(), "tcp://127.0.0.1:9"); err != nil {
		t.Fatal(err)
	}
	_ = Stop(context.Background())
	if out.String() != "" {
		t.Errorf("stderr %q, want nothing more", out.String())
	}
}

// lockedBuilder is a strings.Builder that the exporter's goroutine writes
// while the test reads it.
type lockedBuilder struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuilder) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuilder) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuilder) Reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Reset()
}

// The collector's endpoint in the hint pastes into sh and zsh: a wildcard
// (a glob to zsh) and an ipc path with a space or a quote come quoted.
func TestBindHintQuoted(t *testing.T) {
	for _, tc := range []struct{ endpoint, want string }{
		{"tcp://localhost:5599", "'tcp://*:5599'"},
		{"ipc:///tmp/prof.sock", "ipc:///tmp/prof.sock"},
		{"ipc:///tmp/my prof's", `'ipc:///tmp/my prof'\''s'`},
	} {
		if got := shell.Quote(bindHint(tc.endpoint)); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.endpoint, got, tc.want)
		}
	}
}
