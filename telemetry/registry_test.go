package telemetry

import (
	"runtime"
	"sync"
	"testing"

	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/protobuf/proto"
)

// A full registry makes room for a new series by letting go of the oldest
// one that is done (its functions and Recorders all gone) once a batch
// with its last figures was handed to the transport: never of one in use,
// nor of one handed out as an instrument, nor before that batch. A series
// made again after that starts afresh, with a start time of its own.
func TestRegistryLetsGoOfDoneSeries(t *testing.T) {
	r := newRegistry()
	key := func(i int) []Attr { return []Attr{Int("i", int64(i))} }
	has := func(i int) bool { return r.byKey[seriesKey("test", key(i))] != nil }
	counted := func(f func() uint64) func() int64 { return func() int64 { return int64(f()) } }
	one := counted(func() uint64 { return 1 })
	live := map[int]func(){}
	// Full: by fours, an instrument (that had a function too), a live
	// function, a function gone, and a Recorder gone.
	for i := range MaxSeries {
		switch i % 4 {
		case 0:
			r.get("test", "1", kindSum, key(i), useDirect)
			r.addFunc("test", "1", kindSum, one, true, key(i))()
		case 1:
			live[i] = r.addFunc("test", "1", kindSum, one, true, key(i))
		case 2:
			r.addFunc("test", "1", kindSum, one, true, key(i))()
		case 3:
			_, remove := r.recorder("test", key(i))
			remove()
		}
	}
	extra := 0
	add := func() bool {
		extra++
		before := r.dropped.Load()
		r.addFunc("test", "1", kindSum, one, true, key(MaxSeries+extra))
		return r.dropped.Load() == before
	}
	if add() {
		t.Fatal("a series let go before any batch was shipped")
	}
	_, n := r.read()
	if add() {
		t.Fatal("a series let go before its batch was shipped")
	}
	// The series of 6 is in use again, and 1's function goes after the
	// read: neither may go with this batch.
	r.addFunc("test", "1", kindSum, one, true, key(6))
	live[1]()
	r.wasShipped(n)
	done := MaxSeries/2 - 1 // 2, 3, 7, 10, 11, ...: all that are done but 6
	for range done {
		if !add() {
			t.Fatalf("series %d dropped with done series left", MaxSeries+extra)
		}
	}
	if add() {
		t.Fatal("a series let go that was in use, an instrument, or not shipped")
	}
	for i := range MaxSeries {
		want := i%4 == 0 || i%4 == 1 || i == 6
		if has(i) != want {
			t.Fatalf("series %d kept: %v, want %v", i, has(i), want)
		}
	}
	if len(r.order) != MaxSeries || len(r.byKey) != MaxSeries {
		t.Fatalf("%d series in order, %d by key", len(r.order), len(r.byKey))
	}
	// The next shipped batch lets 1's go, the oldest done.
	_, n = r.read()
	r.wasShipped(n)
	if !add() || has(1) {
		t.Fatalf("series 1 not let go after its last figures were shipped (kept %v)", has(1))
	}
	// The series of 2, made again in the room 5's leaves, starts from
	// zero, and later.
	live[5]()
	_, n = r.read()
	r.wasShipped(n)
	r.addFunc("test", "1", kindSum, one, true, key(2))
	s := r.byKey[seriesKey("test", key(2))]
	if s == nil {
		t.Fatal("series 2 not made again")
	}
	if s.start == 0 || s.value() != 1 {
		t.Errorf("series made again: start %d, value %d; want a start of its own and 1", s.start, s.value())
	}
	ss, _ := r.read()
	for _, p := range readRegistry(nil, ss) {
		if p.attrs[0] == key(2)[0] && p.start != s.start {
			t.Errorf("series made again read with start %d, want %d", p.start, s.start)
		}
	}
	if r.byKey[seriesKey("test", key(0))].start != 0 {
		t.Error("a series made before any was let go has a start of its own")
	}
}

// The exporter ships the start time of a series made after another was let
// go, so that the collector sees its totals begin again, and never one
// after the batch's time, which the collector would reject the batch for;
// the others start with the process.
func TestPointStartShipped(t *testing.T) {
	pts := []point{
		{name: "old", kind: kindSum, i: 3},
		{name: "new", kind: kindSum, i: 3, start: 7e9},
		{name: "hist", kind: kindHist, start: 8e9},
		{name: "later", kind: kindSum, start: 10e9}, // the wall clock stepped back
	}
	var rm metricspb.ResourceMetrics
	if err := proto.Unmarshal(unwrap(t, appendMetrics(nil, testResource(), 1e9, 9e9, pts))[0], &rm); err != nil {
		t.Fatal(err)
	}
	ms := rm.ScopeMetrics[0].Metrics
	got := []uint64{
		ms[0].GetSum().DataPoints[0].StartTimeUnixNano,
		ms[1].GetSum().DataPoints[0].StartTimeUnixNano,
		ms[2].GetExponentialHistogram().DataPoints[0].StartTimeUnixNano,
		ms[3].GetSum().DataPoints[0].StartTimeUnixNano,
	}
	if got[0] != 1e9 || got[1] != 7e9 || got[2] != 8e9 || got[3] != 9e9 {
		t.Errorf("start times %v, want [1e9 7e9 8e9 9e9]: never after the time", got)
	}
}

// Sources come and go on many goroutines while the exporter reads and
// ships and a full registry makes room: a series is never let go while a
// source of it is live, and what a live source adds is in its series.
func TestRegistryChurn(t *testing.T) {
	r := newRegistry()
	for i := range MaxSeries - 200 { // nearly full, of series in use for good
		r.addFunc("test.old", "1", kindSum, func() int64 { return 1 }, true, []Attr{Int("i", int64(i))})
	}
	stop := make(chan struct{})
	exported := make(chan struct{})
	go func() { // the exporter
		defer close(exported)
		for {
			select {
			case <-stop:
				return
			default:
			}
			ss, n := r.read()
			for _, s := range ss {
				s.value()
			}
			r.wasShipped(n)
			runtime.Gosched() // with one P, the others' turn
		}
	}()
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 300 {
				key := []Attr{Int("g", int64(g)), Int("i", int64(i%50))} // names come back
				s := r.get("test.new", "1", kindSum, key, useSource)
				if s == nil {
					continue // dropped: the room full of series not shipped yet
				}
				runtime.Gosched() // the exporter's turn between the count and the function
				remove := s.addFunc(func() int64 { return 1 }, true)
				runtime.Gosched()
				r.mu.Lock()
				kept := r.byKey[seriesKey("test.new", key)] == s
				r.mu.Unlock()
				if !kept {
					t.Errorf("goroutine %d: series %d let go while its source is live", g, i)
				}
				if v := s.value(); v < 1 {
					t.Errorf("goroutine %d: series %d reads %d with its source live", g, i, v)
				}
				remove()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-exported
	if len(r.order) > MaxSeries || len(r.order) != len(r.byKey) {
		t.Errorf("%d series in order, %d by key, at most %d", len(r.order), len(r.byKey), MaxSeries)
	}
}
