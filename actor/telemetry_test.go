package actor_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/internal/otlptest"
	"github.com/zmqflow/zmqflow/telemetry"
)

// captured is a telemetry transport that keeps every batch.
type captured struct {
	mu      sync.Mutex
	batches [][][]byte
}

func (c *captured) TrySend(frames [][]byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.batches = append(c.batches, frames)
	return nil
}

func (c *captured) Close(context.Context) error { return nil }

// profile turns profiling on for the test, into a captured transport.
func profile(t *testing.T) *captured { return profileEvery(t, wait*100) }

// profileEvery is profile with batches read every interval.
func profileEvery(t *testing.T, interval time.Duration) *captured {
	t.Helper()
	c := &captured{}
	telemetry.SetTransport(func(string) (telemetry.Sender, error) { return c, nil })
	if err := telemetry.Start(context.Background(), "inproc://collector", telemetry.WithInterval(interval)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = telemetry.Stop(context.Background())
		telemetry.SetTransport(nil)
	})
	return c
}

// lastFigures stops profiling and decodes the batch Stop flushed:
// "name{k=v,...}" -> a Sum's or Gauge's value, a histogram's count.
func lastFigures(t *testing.T, c *captured) map[string]float64 {
	t.Helper()
	if err := telemetry.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	frames := c.batches[len(c.batches)-1]
	c.mu.Unlock()
	out := make(map[string]float64)
	rms, err := otlptest.Metrics(frames[1])
	if err != nil {
		t.Fatal(err)
	}
	for _, rm := range rms {
		for _, m := range rm.ScopeMetrics[0].Metrics {
			switch d := m.Data.(type) {
			case *metricspb.Metric_Sum:
				for _, p := range d.Sum.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.GetAsInt()) + p.GetAsDouble()
				}
			case *metricspb.Metric_Gauge:
				for _, p := range d.Gauge.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.GetAsInt())
				}
			case *metricspb.Metric_ExponentialHistogram:
				for _, p := range d.ExponentialHistogram.DataPoints {
					out[key(m.Name, p.Attributes)] = float64(p.Count)
				}
			}
		}
	}
	return out
}

func key(name string, attrs []*commonpb.KeyValue) string {
	var kv []string
	for _, a := range attrs {
		kv = append(kv, a.Key+"="+a.Value.GetStringValue())
	}
	sort.Strings(kv)
	return name + "{" + strings.Join(kv, ",") + "}"
}

// runSeq tells runs apart (-count): series are the process's, cumulative,
// so each run names its actors anew.
var runSeq atomic.Int64

func uniqueName(t *testing.T) string { return fmt.Sprintf("%s-%d", t.Name(), runSeq.Add(1)) }

// expectFigures fails t for each figure of want that got lacks or holds
// another value of.
func expectFigures(t *testing.T, got, want map[string]float64) {
	t.Helper()
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

func actorKey(metric, name string, extra ...string) string {
	kv := append([]string{telemetry.AttrActor + "=" + name}, extra...)
	sort.Strings(kv)
	return metric + "{" + strings.Join(kv, ",") + "}"
}

// An actor made while profiling is on, with no observer, reports what it
// handled, its timings, dead letters and failures: exact counts.
func TestProfiledActor(t *testing.T) {
	c := profile(t)
	ctx := context.Background()
	name := uniqueName(t)
	a, err := actor.Spawn[int](ctx, actor.BehaviorFunc[int](func(ctx context.Context, n int) error {
		if n < 0 {
			return errors.New("negative")
		}
		return nil
	}), actor.WithName(name))
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	for i := range n {
		if err := a.Tell(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Tell(ctx, -1); err != nil { // fails: an error, the actor ends
		t.Fatal(err)
	}
	awaitDone(t, "actor", a.Done())
	for range 3 {
		_ = a.Tell(ctx, 1) // dead letters
	}
	got := lastFigures(t, c)
	want := map[string]float64{
		actorKey(telemetry.MetricActorMessages, name, telemetry.AttrDirection+"=in"): n + 1,
		actorKey(telemetry.MetricActorErrors, name):                                  1,
		actorKey(telemetry.MetricActorDeadLetters, name):                             3,
		actorKey(telemetry.MetricActorMailboxDepth, name):                            0,
		actorKey(telemetry.MetricActorRestarts, name):                                0,
	}
	expectFigures(t, got, want)
	// Timings are of a sample (one message in 64 before the first batch):
	// some of the 501, never more than all, both timings of each.
	h, q := got[actorKey(telemetry.MetricActorHandling, name)], got[actorKey(telemetry.MetricActorQueueing, name)]
	if h < 1 || h > n+1 || h != q {
		t.Errorf("%v handling and %v queueing times of %d messages", h, q, n+1)
	}
}

// A supervised child is measured under its own name, and its restarts
// counted; figures reported through actor.ProfileFigures land as totals
// and levels, those of components of one name added up.
func TestProfiledSupervisorAndFigures(t *testing.T) {
	c := profile(t)
	ctx := context.Background()
	name := uniqueName(t) + "-child"
	child := actor.NewChild[int](name, func() actor.Behavior[int] {
		return actor.BehaviorFunc[int](func(ctx context.Context, n int) error {
			if n < 0 {
				return errors.New("negative")
			}
			return nil
		})
	})
	s, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{child},
		actor.WithName(t.Name()), actor.WithBackoff(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	ref := child.Ref()
	for _, m := range []int{1, -1, 2, 3} {
		if err := ref.Tell(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	awaitCond(t, "child handled 4", func() bool { return ref.Stats().Handled == 4 })
	if err := s.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	f := actor.ProfileFigures()
	if f == nil {
		t.Fatal("ProfileFigures nil with profiling on")
	}
	broker := uniqueName(t) + "-broker"
	f.Counter(broker, "Requests", 41)
	f.Counter(broker, "Requests", 42)
	f.Level(broker, "Pending", -2)
	// A second component of the same name: its figures add to the first's.
	g := actor.ProfileFigures()
	g.Counter(broker, "Requests", 8)
	g.Level(broker, "Pending", 5)
	f.Counter(broker, "Requests", 42) // a total repeated changes nothing
	got := lastFigures(t, c)
	want := map[string]float64{
		actorKey(telemetry.MetricActorMessages, name, telemetry.AttrDirection+"=in"):         4,
		actorKey(telemetry.MetricActorRestarts, name):                                        1,
		actorKey(telemetry.MetricActorErrors, name):                                          1,
		actorKey(telemetry.MetricActorFigureTotal, broker, telemetry.AttrFigure+"=Requests"): 50,
		actorKey(telemetry.MetricActorFigureLevel, broker, telemetry.AttrFigure+"=Pending"):  3,
	}
	expectFigures(t, got, want)
	if actor.ProfileFigures() != nil {
		t.Error("ProfileFigures not nil with profiling off")
	}
}

// A profiled actor's senders race to hand it messages while it falls idle
// now and then: each hand-over is counted for the sample by the sender that
// won it, with no lock (the race detector checks that claim), and every
// message is received once, in its sender's order, and counted.
func TestProfiledHandOverRaces(t *testing.T) {
	c := profile(t)
	const senders, per = 4, 1500
	type msg struct{ sender, seq int }
	name := uniqueName(t)
	got := make([][]int, senders) // the actor's alone until it is closed
	a, err := actor.Spawn[msg](context.Background(), actor.BehaviorFunc[msg](func(_ context.Context, m msg) error {
		got[m.sender] = append(got[m.sender], m.seq)
		return nil
	}), actor.WithName(name))
	if err != nil {
		t.Fatal(err)
	}
	tellFromSenders(t, a.Ref(), senders, per, func(s, seq int) msg { return msg{s, seq} },
		func(_, seq int) bool { return seq%2 == 0 })
	awaitCond(t, "all handled", func() bool { return a.Stats().Handled == senders*per })
	a.Close()
	checkEachInOrder(t, got, per)
	figs := lastFigures(t, c)
	if m := figs[actorKey(telemetry.MetricActorMessages, name, telemetry.AttrDirection+"=in")]; m != senders*per {
		t.Errorf("%v messages in, want %d", m, senders*per)
	}
	h, q := figs[actorKey(telemetry.MetricActorHandling, name)], figs[actorKey(telemetry.MetricActorQueueing, name)]
	if h < 1 || h > senders*per || h != q {
		t.Errorf("%v handling and %v queueing times of %d messages", h, q, senders*per)
	}
}

// Actors given no name are measured together, as "actor": a program that
// spawns an actor per request keeps a bounded number of series, and the
// counts stay exact.
func TestProfiledUnnamedActorsShareSeries(t *testing.T) {
	in := actorKey(telemetry.MetricActorMessages, "actor", telemetry.AttrDirection+"=in")
	before := lastFigures(t, profile(t))[in] // what earlier tests' unnamed actors handled
	dropped := telemetry.ReadStats().SeriesDropped
	c := profile(t)
	ctx := context.Background()
	const n = 300 // more than MaxSeries allows actors of their own series
	for i := range n {
		a, err := actor.Spawn[int](ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.Tell(ctx, i); err != nil {
			t.Fatal(err)
		}
		awaitCond(t, "handled", func() bool { return a.Stats().Handled == 1 })
		a.Close()
	}
	got := lastFigures(t, c)
	if m := got[in] - before; m != n {
		t.Errorf("unnamed actors handled %v messages, want %d", m, n)
	}
	for k := range got {
		if strings.Contains(k, telemetry.AttrActor+"=actor-") {
			t.Fatalf("an unnamed actor measured under its own name: %s", k)
		}
	}
	if d := telemetry.ReadStats().SeriesDropped - dropped; d != 0 {
		t.Errorf("%d series dropped", d)
	}
}

// Actors given names of their own (one a session) leave series that make
// room for others once the registry is full: every series of a stopped
// actor is let go once a batch shipped its totals, and none is dropped.
// Each actor has 8 series: 4,800 in all, MaxSeries more than twice.
func TestProfiledNamedActorsMakeRoom(t *testing.T) {
	dropped := telemetry.ReadStats().SeriesDropped
	ctx := context.Background()
	const rounds, per = 20, 30
	var got map[string]float64
	var name string
	for range rounds {
		c := profile(t)
		for range per {
			name = uniqueName(t)
			a, err := actor.Spawn[int](ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
				actor.WithName(name))
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := a.Tell(ctx, i); err != nil {
					t.Fatal(err)
				}
			}
			awaitCond(t, "handled", func() bool { return a.Stats().Handled == 3 })
			a.Close()
			_ = a.Tell(ctx, 4) // a dead letter, told after the actor stopped
		}
		got = lastFigures(t, c) // ships the batch: the stopped actors' series may go
	}
	if d := telemetry.ReadStats().SeriesDropped - dropped; d != 0 {
		t.Errorf("%d series dropped", d)
	}
	want := map[string]float64{ // the last actor's, exact
		actorKey(telemetry.MetricActorMessages, name, telemetry.AttrDirection+"=in"): 3,
		actorKey(telemetry.MetricActorDeadLetters, name):                             1,
		actorKey(telemetry.MetricActorErrors, name):                                  0,
		actorKey(telemetry.MetricActorRestarts, name):                                0,
	}
	expectFigures(t, got, want)
	if n := len(got); n > telemetry.MaxSeries+20 {
		t.Errorf("last batch holds %d series", n)
	}
}

// Dead letters told while an actor stops are each counted once: into its
// total while its series reads that, or into the series itself after,
// with batches read all the while and senders racing to give the series
// those that come after.
func TestProfiledDeadLettersAcrossStop(t *testing.T) {
	c := profileEvery(t, time.Millisecond)
	ctx := context.Background()
	name := uniqueName(t)
	var want uint64
	for range 20 {
		a, err := actor.Spawn[int](ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
			actor.WithName(name), actor.WithMailbox(actor.DropNewest(1)))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				// Until the actor is gone (its series let go
				// meanwhile), and more after.
				for i := 0; ; i++ {
					_ = a.Tell(ctx, i)
					select {
					case <-a.Done():
						for i := range 20 {
							_ = a.Tell(ctx, i)
						}
						return
					default:
					}
				}
			})
		}
		awaitCond(t, "a dead letter", func() bool { return a.Stats().DeadLetters > 0 })
		a.Close()
		wg.Wait()
		want += a.Stats().DeadLetters
	}
	// The actors of the name add up in one series; each counted in its
	// Stats the dead letters it told its observer.
	if got := lastFigures(t, c)[actorKey(telemetry.MetricActorDeadLetters, name)]; got != float64(want) {
		t.Errorf("%v dead letters in the series, want %d", got, want)
	}
}

// A profiled actor's totals reach its series exactly once, whenever they
// come: before release, between its removals and its mark (each added by
// a sender that then stops), and after it (late).
func TestProfileTotalsExactAcrossRelease(t *testing.T) {
	c := profile(t)
	name := uniqueName(t)
	o := actor.NewProfiler(name)
	for range 3 {
		o.DeadLetter(actor.DeadLetter{})
	}
	o.ActorFailed(name, nil)
	actor.AddBlocked(o, uint64(time.Second))
	if !actor.LetGo(o) || actor.LetGo(o) {
		t.Fatal("letGo did not remove once")
	}
	for range 2 {
		o.DeadLetter(actor.DeadLetter{}) // between: nobody adds after, release must give them
	}
	o.ActorRestarted(name, 1, nil)
	actor.AddBlocked(o, uint64(time.Second))
	actor.Settle(o)
	o.DeadLetter(actor.DeadLetter{}) // after: given by its adder
	actor.Release(o)                 // a later call gives nothing twice
	expectFigures(t, lastFigures(t, c), map[string]float64{
		actorKey(telemetry.MetricActorDeadLetters, name): 6,
		actorKey(telemetry.MetricActorErrors, name):      1,
		actorKey(telemetry.MetricActorRestarts, name):    1,
		actorKey(telemetry.MetricActorBlocked, name):     2, // seconds
	})
}

type startFails struct{ actor.BehaviorFunc[int] }

func (startFails) Start(context.Context) error { return errors.New("no config") }

// A Supervise that fails lets go of the series of every actor it made: the
// children it started and closed, the one that failed, and those after it
// that never started, in a subtree too; and so does one whose children
// fail to prepare. Otherwise a program that retries a failing Supervise
// would fill the registry (telemetry.MaxSeries) with series no one feeds.
func TestFailedSuperviseLetsSeriesGo(t *testing.T) {
	profile(t)
	ctx := context.Background()
	ok := func() actor.Behavior[int] {
		return actor.BehaviorFunc[int](func(context.Context, int) error { return nil })
	}
	a := actor.NewChild("a", ok)
	b := actor.NewChild("b", func() actor.Behavior[int] { return startFails{} })
	c := actor.NewChild("c", ok)
	e := actor.NewChild("e", ok)
	d := actor.NewSupervisor("d", actor.OneForOne, []actor.ChildSpec{e})
	if _, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{a, b, c, d}); !errors.Is(err, actor.ErrStartFailed) {
		t.Fatalf("Supervise = %v", err)
	}
	for _, ch := range []*actor.Child[int]{a, b, c, e} {
		if !actor.Released(actor.ChildObserver(ch)) {
			t.Errorf("child %q keeps its series", ch.Name())
		}
	}
	if !actor.Released(actor.SubtreeObserver(d)) {
		t.Error("subtree d keeps its series")
	}

	f := actor.NewChild("f", ok)
	if _, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{f, nil}); !errors.Is(err, actor.ErrBadOption) {
		t.Fatalf("Supervise with a nil child = %v", err)
	}
	if !actor.Released(actor.ChildObserver(f)) {
		t.Error("child f, prepared before the nil one, keeps its series")
	}
}
