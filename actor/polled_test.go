package actor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
	"github.com/zmqflow/zmqflow/telemetry"
)

// polledFeed is a PolledFeed over a slice, as a socket's queue is: push
// adds, Poll takes; fail makes the next Poll fail once the slice is empty.
type polledFeed struct {
	decline bool // Attach says no: run the feed instead

	mu    sync.Mutex
	msgs  []int
	err   error
	ready chan struct{} // closed at the next push or fail

	attached, polled, runs, closed atomic.Int32
}

func newPolledFeed() *polledFeed { return &polledFeed{ready: make(chan struct{})} }

func (f *polledFeed) push(ms ...int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msgs = append(f.msgs, ms...)
	close(f.ready)
	f.ready = make(chan struct{})
}

func (f *polledFeed) fail(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
	close(f.ready)
	f.ready = make(chan struct{})
}

func (f *polledFeed) Attach(context.Context, actor.Inlet[int]) (bool, error) {
	f.attached.Add(1)
	return !f.decline, nil
}

func (f *polledFeed) Ready() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.msgs) > 0 || f.err != nil {
		return closedReady
	}
	return f.ready
}

var closedReady = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (f *polledFeed) Poll(_ actor.Inlet[int], dst []int, max int) ([]int, error) {
	f.polled.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.msgs) == 0 && f.err != nil {
		return dst, f.err
	}
	n := min(max, len(f.msgs))
	dst = append(dst, f.msgs[:n]...)
	f.msgs = f.msgs[n:]
	return dst, nil
}

// Run is the feed run the usual way, when Attach declines: it moves what
// is pushed into the mailbox.
func (f *polledFeed) Run(ctx context.Context, in actor.Inlet[int]) error {
	f.runs.Add(1)
	for {
		select {
		case <-f.Ready():
		case <-ctx.Done():
			return nil
		}
		ms, err := f.Poll(in, nil, 64)
		if err != nil {
			return err
		}
		if in.PutAll(ms) != nil {
			return nil
		}
	}
}

func (f *polledFeed) Close() error { f.closed.Add(1); return nil }

// A polled feed's messages reach the actor in order, beside what is told
// through its Ref, with no goroutine of the feed's: Run is never called,
// Close is called once when the actor stops.
func TestPolledFeed(t *testing.T) {
	const n = 10000
	var (
		next, told atomic.Int32
		all        = make(chan struct{})
	)
	b := actor.BehaviorFunc[int](func(_ context.Context, m int) error {
		if m < 0 {
			told.Add(1)
			return nil
		}
		if want := next.Add(1) - 1; int32(m) != want {
			return fmt.Errorf("got %d, want %d", m, want)
		}
		if m == n-1 {
			close(all)
		}
		return nil
	})
	f := newPolledFeed()
	a, err := actor.Spawn(ctx, b, actor.WithFeed[int](f))
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for i := 0; i < n; i += 10 {
			f.push(i, i+1, i+2, i+3, i+4, i+5, i+6, i+7, i+8, i+9)
			a.Tell(ctx, -1)
		}
	}()
	select {
	case <-all:
	case <-a.Done():
		t.Fatalf("actor ended: %v", a.Err())
	case <-time.After(wait):
		t.Fatalf("%d of %d polled messages handled", next.Load(), n)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if told.Load() != n/10 {
		t.Errorf("%d told messages handled, want %d", told.Load(), n/10)
	}
	if f.attached.Load() != 1 || f.runs.Load() != 0 || f.closed.Load() != 1 {
		t.Errorf("attached %d, run %d, closed %d times; want 1, 0, 1", f.attached.Load(), f.runs.Load(), f.closed.Load())
	}
}

var errPolledGone = errors.New("polled source gone")

// A Poll error fails the actor once it has handled what came before.
func TestPolledFeedFailureFailsActor(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	f := newPolledFeed()
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
		return probe.Ref().Tell(ctx, m)
	}), actor.WithFeed[int](f))
	if err != nil {
		t.Fatal(err)
	}
	f.push(1, 2)
	f.fail(errPolledGone)
	select {
	case <-a.Done():
	case <-time.After(wait):
		t.Fatal("actor did not end after its polled feed failed")
	}
	if !errors.Is(a.Err(), errPolledGone) {
		t.Errorf("Err = %v, want the feed's error", a.Err())
	}
	probe.ExpectMsg(t, 1, wait)
	probe.ExpectMsg(t, 2, wait)
	if n := f.closed.Load(); n != 1 {
		t.Errorf("feed closed %d times, want 1", n)
	}
}

// A feed whose Attach declines is run as a Feed.
func TestPolledFeedDeclined(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	f := newPolledFeed()
	f.decline = true
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
		return probe.Ref().Tell(ctx, m)
	}), actor.WithFeed[int](f))
	if err != nil {
		t.Fatal(err)
	}
	f.push(7, 8)
	probe.ExpectMsg(t, 7, wait)
	probe.ExpectMsg(t, 8, wait)
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if f.runs.Load() != 1 || f.closed.Load() != 1 {
		t.Errorf("run %d, closed %d times; want 1 and 1", f.runs.Load(), f.closed.Load())
	}
}

// A supervised child polls its feed across restarts: what waits in the
// feed while the child restarts is handled by the next incarnation.
func TestPolledFeedSurvivesRestart(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	f := newPolledFeed()
	ch := actor.NewChild("polled worker", func() actor.Behavior[int] {
		return actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
			if m%100 == 50 {
				panic(fmt.Sprintf("poison %d", m))
			}
			return probe.Ref().Tell(ctx, m)
		})
	}, actor.WithFeed[int](f))
	sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{ch},
		actor.WithBackoff(0, 0), actor.WithIntensity(100, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		f.push(i)
	}
	seen := map[int]bool{}
	for len(seen) < 990 {
		seen[probe.Expect(t, wait)] = true
	}
	for i := range 1000 {
		if !seen[i] && i%100 != 50 {
			t.Fatalf("message %d lost across restarts", i)
		}
	}
	if err := sup.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if f.attached.Load() != 1 || f.runs.Load() != 0 || f.closed.Load() != 1 {
		t.Errorf("attached %d, run %d, closed %d times; want 1, 0, 1", f.attached.Load(), f.runs.Load(), f.closed.Load())
	}
}

// What an actor polled and did not handle when it failed goes back in its
// mailbox in order, ahead of what still waits in the feed: the next
// incarnation handles every message but the poison ones, in the order
// pushed. Untimed actors handle polled messages where the feed put them,
// timed ones (an observer) as envelopes: both paths.
func TestPolledFeedKeepsOrderAcrossRestarts(t *testing.T) {
	for _, tc := range []struct {
		name string
		opts []actor.Option
	}{
		{"untimed", nil},
		{"timed", []actor.Option{actor.WithObserver(timingObserver{})}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			probe := actortest.NewProbe[int](t)
			f := newPolledFeed()
			opts := append([]actor.Option{actor.WithFeed[int](f)}, tc.opts...)
			ch := actor.NewChild("ordered worker", func() actor.Behavior[int] {
				return actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
					if m%100 == 50 {
						return fmt.Errorf("poison %d", m)
					}
					return probe.Ref().Tell(ctx, m)
				})
			}, opts...)
			sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{ch},
				actor.WithBackoff(0, 0), actor.WithIntensity(100, time.Minute))
			if err != nil {
				t.Fatal(err)
			}
			defer sup.Stop(ctx)
			ms := make([]int, 1000) // many polls' worth, pushed at once
			for i := range ms {
				ms[i] = i
			}
			f.push(ms...)
			for i := range 1000 {
				if i%100 != 50 {
					probe.ExpectMsg(t, i, wait)
				}
			}
		})
	}
}

// An actor closed while it handles a polled message: the messages polled
// with it and not handled are dead letters, counted.
func TestPolledFeedCloseDeadLettersTheRest(t *testing.T) {
	f := newPolledFeed()
	entered := make(chan int, 1)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
		if m == 3 {
			entered <- m
			<-ctx.Done() // until Close
		}
		return nil
	}), actor.WithFeed[int](f))
	if err != nil {
		t.Fatal(err)
	}
	f.push(0, 1, 2, 3, 4, 5, 6, 7, 8, 9) // one poll
	recv(t, "message 3", entered)
	a.Close()
	if st := a.Stats(); st.DeadLetters != 6 || st.Handled != 4 {
		t.Fatalf("after Close: %d dead letters, %d handled; want 6 (4..9), 4", st.DeadLetters, st.Handled)
	}
}

// An observer hears of every message polled from a feed, with its times,
// as of every message told: the polled ones are timed where the feed put
// them, not copied into envelopes.
func TestPolledFeedTimedByObserver(t *testing.T) {
	f := newPolledFeed()
	rec := actortest.NewRecorder()
	a, err := actor.Spawn[int](context.Background(), actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
		actor.WithName("timed"), actor.WithFeed(f), actor.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	const n = 300 // more than a batch
	ms := make([]int, n)
	for i := range ms {
		ms[i] = i
	}
	f.push(ms...)
	for range n {
		if e := rec.Await(t, actortest.Handled, "timed", wait); e.Err != nil || e.Queued < 0 || e.Handling < 0 {
			t.Fatalf("handled event %+v", e)
		}
	}
	a.Close()
	if got := rec.Count(actortest.Handled, "timed"); got != n {
		t.Fatalf("%d handled events, want %d", got, n)
	}
}

// A profiled actor fed by a polled feed times a sample of what it polls,
// both timings of each, and counts every message.
func TestProfiledPolledActor(t *testing.T) {
	c := profile(t)
	name := uniqueName(t)
	f := newPolledFeed()
	a, err := actor.Spawn[int](context.Background(), actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
		actor.WithName(name), actor.WithFeed(f))
	if err != nil {
		t.Fatal(err)
	}
	const n = 500
	ms := make([]int, n)
	f.push(ms...)
	awaitCond(t, "all handled", func() bool { return a.Stats().Handled == n })
	a.Close()
	got := lastFigures(t, c)
	if m := got[actorKey(telemetry.MetricActorMessages, name, telemetry.AttrDirection+"=in")]; m != n {
		t.Errorf("%v messages in, want %d", m, n)
	}
	h, q := got[actorKey(telemetry.MetricActorHandling, name)], got[actorKey(telemetry.MetricActorQueueing, name)]
	if h < 1 || h > n || h != q {
		t.Errorf("%v handling and %v queueing times of %d messages", h, q, n)
	}
}
