package actor_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
)

var errCrash = errors.New("crash")

// worker makes a child behaviour: it counts the messages of its incarnation
// and reports "name:msg:count" to out; "crash" fails it, "panic" panics.
func worker(name string, out actor.Ref[string]) func() actor.Behavior[string] {
	return func() actor.Behavior[string] {
		n := 0 // fresh for each incarnation
		return actor.BehaviorFunc[string](func(ctx context.Context, m string) error {
			switch m {
			case "crash":
				return fmt.Errorf("%s: %w", name, errCrash)
			case "panic":
				panic(name + " panics")
			}
			n++
			return out.Tell(ctx, fmt.Sprintf("%s:%s:%d", name, m, n))
		})
	}
}

type family struct {
	sup      *actor.Supervisor
	children map[string]*actor.Child[string]
	probe    *actortest.Probe[string]
	rec      *actortest.Recorder
}

func supervise(t *testing.T, s actor.Strategy, opts ...actor.Option) family {
	t.Helper()
	f := family{children: map[string]*actor.Child[string]{}, probe: actortest.NewProbe[string](t), rec: actortest.NewRecorder()}
	var specs []actor.ChildSpec
	for _, name := range []string{"a", "b", "c"} {
		ch := actor.NewChild(name, worker(name, f.probe.Ref()))
		f.children[name] = ch
		specs = append(specs, ch)
	}
	opts = append([]actor.Option{actor.WithName("sup"), actor.WithObserver(f.rec), actor.WithBackoff(0, 0)}, opts...)
	sup, err := actor.Supervise(ctx, s, specs, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sup.Close() })
	f.sup = sup
	for _, name := range []string{"a", "b", "c"} {
		f.rec.Await(t, actortest.Started, name, wait)
	}
	return f
}

// ping tells every child "x" and returns the replies, sorted.
func (f family) ping(t *testing.T) []string {
	t.Helper()
	for _, name := range []string{"a", "b", "c"} {
		if err := f.children[name].Ref().Tell(ctx, "x"); err != nil {
			t.Fatal(err)
		}
	}
	got := []string{f.probe.Expect(t, wait), f.probe.Expect(t, wait), f.probe.Expect(t, wait)}
	slices.Sort(got)
	return got
}

func TestSupervisorStrategies(t *testing.T) {
	for _, tc := range []struct {
		strategy  actor.Strategy
		restarted []string
		after     []string // replies to a ping after b's crash: 1 is a fresh incarnation
	}{
		{actor.OneForOne, []string{"b"}, []string{"a:x:2", "b:x:1", "c:x:2"}},
		{actor.AllForOne, []string{"a", "b", "c"}, []string{"a:x:1", "b:x:1", "c:x:1"}},
		{actor.RestForOne, []string{"b", "c"}, []string{"a:x:2", "b:x:1", "c:x:1"}},
	} {
		t.Run(tc.strategy.String(), func(t *testing.T) {
			f := supervise(t, tc.strategy)
			if got := f.ping(t); !slices.Equal(got, []string{"a:x:1", "b:x:1", "c:x:1"}) {
				t.Fatalf("first ping: %v", got)
			}
			f.children["b"].Ref().Tell(ctx, "crash")
			if e := f.rec.Await(t, actortest.Failed, "b", wait); !errors.Is(e.Err, errCrash) {
				t.Fatalf("failed event %v", e)
			}
			for _, name := range tc.restarted {
				if e := f.rec.Await(t, actortest.Restarted, name, wait); !errors.Is(e.Err, errCrash) || e.Restarts != 1 {
					t.Fatalf("restarted event %v", e)
				}
			}
			if got := f.ping(t); !slices.Equal(got, tc.after) {
				t.Fatalf("ping after the restart: %v, want %v", got, tc.after)
			}
			var order []string // restarts come first child first
			for _, e := range f.rec.Events() {
				if e.Kind == actortest.Restarted {
					order = append(order, e.Actor)
				}
			}
			if !slices.Equal(order, tc.restarted) {
				t.Fatalf("restarted %v, want %v", order, tc.restarted)
			}
			for name, ch := range f.children {
				want := uint64(0)
				if slices.Contains(tc.restarted, name) {
					want = 1
				}
				if got := ch.Ref().Stats().Restarts; got != want {
					t.Errorf("child %s restarted %d times, want %d", name, got, want)
				}
			}
		})
	}
}

func TestSupervisorRecoversPanicKeepsMailbox(t *testing.T) {
	f := supervise(t, actor.OneForOne)
	b := f.children["b"].Ref()
	b.Tell(ctx, "x")
	b.Tell(ctx, "panic")
	b.Tell(ctx, "y") // waits in the mailbox through the restart
	f.probe.ExpectMsg(t, "b:x:1", wait)
	var pe *actor.PanicError
	if e := f.rec.Await(t, actortest.Failed, "b", wait); !errors.As(e.Err, &pe) || pe.Value != "b panics" || len(pe.Stack) == 0 {
		t.Fatalf("failed event %v; want a PanicError with a stack", e)
	}
	f.probe.ExpectMsg(t, "b:y:1", wait) // a fresh incarnation handled it
}

func TestSupervisorIntensityExceeded(t *testing.T) {
	f := supervise(t, actor.OneForOne, actor.WithIntensity(2, time.Minute))
	b := f.children["b"].Ref()
	for i := 1; i <= 2; i++ {
		b.Tell(ctx, "crash")
		f.rec.Await(t, actortest.Restarted, "b", wait)
	}
	b.Tell(ctx, "crash") // the third failure within the window
	awaitDone(t, "supervisor", f.sup.Done())
	err := f.sup.Err()
	if !errors.Is(err, actor.ErrRestartIntensity) || !errors.Is(err, errCrash) ||
		!strings.Contains(err.Error(), `child "b"`) || !strings.Contains(err.Error(), `"sup"`) {
		t.Fatalf("Err = %v; want ErrRestartIntensity naming child b and wrapping its failure", err)
	}
	if f.sup.Close() != err || f.sup.Stop(ctx) != err {
		t.Fatal("Close and Stop of a failed supervisor do not return its failure")
	}
	for name, ch := range f.children { // every child was closed
		if err := ch.Ref().Tell(ctx, "x"); !errors.Is(err, actor.ErrStopped) {
			t.Errorf("Tell to child %s of a failed supervisor = %v", name, err)
		}
		f.rec.Await(t, actortest.Stopped, name, wait)
	}
	if e := f.rec.Await(t, actortest.Stopped, "sup", wait); e.Err != err {
		t.Fatalf("supervisor stopped event %v", e)
	}
	if f.rec.Count(actortest.Restarted, "b") != 2 {
		t.Fatal("restarted past the intensity")
	}
}

func TestSupervisorBackoff(t *testing.T) {
	const min = 30 * time.Millisecond
	f := supervise(t, actor.OneForOne, actor.WithBackoff(min, time.Second), actor.WithIntensity(5, time.Minute))
	b := f.children["b"].Ref()
	for i, want := range []time.Duration{min, 2 * min} { // doubling
		t0 := time.Now()
		b.Tell(ctx, "crash")
		f.rec.Await(t, actortest.Restarted, "b", wait)
		if d := time.Since(t0); d < want {
			t.Fatalf("restart %d after %v, want a back-off of at least %v", i+1, d, want)
		}
	}
}

func TestSupervisorStopDrainsClose(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	g := newGate(probe.Ref())
	rec := actortest.NewRecorder()
	gated := actor.NewChild("gated", func() actor.Behavior[int] { return g })
	other := actor.NewChild("other", func() actor.Behavior[int] {
		return actor.BehaviorFunc[int](func(context.Context, int) error { return nil })
	})
	sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{gated, other}, actor.WithObserver(rec), actor.WithName("s"))
	if err != nil {
		t.Fatal(err)
	}
	gated.Ref().Tell(ctx, 0)
	g.awaitEntered(t, 0)
	for i := 1; i <= 5; i++ {
		gated.Ref().Tell(ctx, i)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- sup.Stop(ctx) }()
	rec.Await(t, actortest.Stopped, "other", wait) // last first, while gated still drains
	close(g.release)
	if err := recv(t, "Stop", stopped); err != nil {
		t.Fatal(err)
	}
	for i := 0; i <= 5; i++ {
		probe.ExpectMsg(t, i, wait)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Go(func() {
			if err := sup.Close(); err != nil {
				t.Errorf("Close after Stop = %v", err)
			}
		})
	}
	wg.Wait()
	if err := gated.Ref().Tell(ctx, 6); !errors.Is(err, actor.ErrStopped) {
		t.Fatalf("Tell to a stopped child = %v", err)
	}
	rec.Await(t, actortest.Stopped, "s", wait)
}

func TestSupervisorCloseNow(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	g := newGate(probe.Ref())
	gated := actor.NewChild("gated", func() actor.Behavior[int] { return g })
	sup, _ := actor.Supervise(ctx, actor.AllForOne, []actor.ChildSpec{gated})
	gated.Ref().Tell(ctx, 0)
	g.awaitEntered(t, 0)
	gated.Ref().Tell(ctx, 1)
	if err := sup.Close(); err != nil { // returns with the gate still shut
		t.Fatal(err)
	}
	if st := gated.Ref().Stats(); st.DeadLetters != 1 {
		t.Fatalf("stats %+v", st)
	}
}

type failStart struct{ actor.BehaviorFunc[string] }

func (failStart) Start(context.Context) error { return errors.New("no config") }

func TestSuperviseStartFailure(t *testing.T) {
	rec := actortest.NewRecorder()
	probe := actortest.NewProbe[string](t)
	a := actor.NewChild("a", worker("a", probe.Ref()))
	b := actor.NewChild("b", func() actor.Behavior[string] { return failStart{} })
	sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{a, b}, actor.WithObserver(rec))
	if sup != nil || !errors.Is(err, actor.ErrStartFailed) || !strings.Contains(err.Error(), `"b"`) {
		t.Fatalf("Supervise = %v, %v", sup, err)
	}
	rec.Await(t, actortest.Stopped, "a", wait) // the child already started was closed
	if _, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{a}); !errors.Is(err, actor.ErrBadOption) {
		t.Fatalf("a child given to a second supervisor: %v", err)
	}
}

func TestSuperviseOptionsChecked(t *testing.T) {
	for _, o := range []actor.Option{
		actor.WithMailbox(actor.Bounded(1)), // an actor option
		actor.WithIntensity(-1, time.Second),
		actor.WithBackoff(time.Second, time.Millisecond),
	} {
		if _, err := actor.Supervise(ctx, actor.OneForOne, nil, o); !errors.Is(err, actor.ErrBadOption) {
			t.Errorf("Supervise with a bad option = %v", err)
		}
	}
	c := actor.NewChild("c", func() actor.Behavior[int] { return nil }, actor.WithBackoff(0, 0))
	if _, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{c}); !errors.Is(err, actor.ErrBadOption) {
		t.Errorf("child with a supervisor option = %v", err)
	}
}

func TestSupervisorStopCutShort(t *testing.T) {
	g := newGate(actor.Ref[int]{})
	gated := actor.NewChild("gated", func() actor.Behavior[int] { return g })
	sup, _ := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{gated})
	gated.Ref().Tell(ctx, 0)
	g.awaitEntered(t, 0)
	gated.Ref().Tell(ctx, 1)
	sctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := sup.Stop(sctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Stop = %v", err)
	}
	awaitDone(t, "supervisor", sup.Done())
	if st := gated.Ref().Stats(); st.DeadLetters != 1 {
		t.Fatalf("stats %+v", st)
	}
}

func TestSupervisorLogs(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	probe := actortest.NewProbe[string](t)
	b := actor.NewChild("b", worker("b", probe.Ref()))
	sup, _ := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{b},
		actor.WithLogger(zap.New(core)), actor.WithBackoff(0, 0), actor.WithIntensity(0, time.Minute))
	b.Ref().Tell(ctx, "crash")
	awaitDone(t, "supervisor", sup.Done())
	for _, msg := range []string{"actor failed", "supervisor gave up"} {
		if logs.FilterMessage(msg).Len() != 1 {
			t.Errorf("no %q log; logs: %v", msg, logs.All())
		}
	}
	if e := logs.FilterMessage("actor failed").All(); len(e) == 1 && e[0].ContextMap()["actor"] != "b" {
		t.Errorf("failure logged without the actor's name: %v", e[0].ContextMap())
	}
}

// A Stop whose drain Close cuts short says so with an error that wraps
// ErrStopped.
func TestSupervisorStopCutByClose(t *testing.T) {
	ctx := context.Background()
	holding := make(chan struct{})
	child := actor.NewChild("busy", func() actor.Behavior[int] {
		return actor.BehaviorFunc[int](func(ctx context.Context, _ int) error {
			close(holding)
			<-ctx.Done() // until Close: the drain cannot end before it
			return nil
		})
	})
	sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{child})
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Ref().Tell(ctx, 1); err != nil {
		t.Fatal(err)
	}
	<-holding
	stopped := make(chan error, 1)
	go func() { stopped <- sup.Stop(ctx) }()
	deadline := time.Now().Add(20 * time.Second)
	for !errors.Is(child.Ref().TryTell(2), actor.ErrStopped) { // the drain began
		if time.Now().After(deadline) {
			t.Fatal("Stop did not begin to drain")
		}
		time.Sleep(time.Millisecond)
	}
	go sup.Close()
	select {
	case err = <-stopped:
	case <-time.After(20 * time.Second):
		t.Fatal("Stop did not return after Close")
	}
	if !errors.Is(err, actor.ErrStopped) {
		t.Fatalf("Stop cut short by Close: %v, want an error wrapping ErrStopped", err)
	}
}

// hangingRestart is a behaviour whose first incarnation fails on any message
// and whose later ones wait in Start until their ctx ends, reporting on
// restarting when they begin to wait: a restart that a stop must cut short.
type hangingRestart struct {
	n          *int // incarnations so far; the supervisor's goroutine only
	restarting chan<- struct{}
}

func (h hangingRestart) Start(ctx context.Context) error {
	if *h.n++; *h.n == 1 {
		return nil
	}
	h.restarting <- struct{}{}
	<-ctx.Done() // as Starter asks: return when ctx is done
	return ctx.Err()
}

func (h hangingRestart) Receive(context.Context, int) error { return errCrash }

// Stop and Close end a supervisor that is restarting a child whose Start
// waits for its ctx, directly or through a subtree: the order cancels the
// Start, and no child is restarted after it.
func TestSupervisorStopDuringRestartStart(t *testing.T) {
	for _, tc := range []struct {
		name   string
		nested bool
		stop   func(*actor.Supervisor) error
	}{
		{"stop", false, func(s *actor.Supervisor) error { return s.Stop(ctx) }},
		{"close", false, func(s *actor.Supervisor) error { return s.Close() }},
		{"stop/nested", true, func(s *actor.Supervisor) error { return s.Stop(ctx) }},
		{"close/nested", true, func(s *actor.Supervisor) error { return s.Close() }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := 0
			restarting := make(chan struct{}, 1)
			child := actor.NewChild("hanging", func() actor.Behavior[int] {
				return hangingRestart{n: &n, restarting: restarting}
			})
			rec := actortest.NewRecorder()
			spec := actor.ChildSpec(child)
			if tc.nested {
				spec = actor.NewSupervisor("sub", actor.OneForOne, []actor.ChildSpec{child}, actor.WithBackoff(0, 0))
			}
			sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{spec},
				actor.WithObserver(rec), actor.WithBackoff(0, 0))
			if err != nil {
				t.Fatal(err)
			}
			if err := child.Ref().Tell(ctx, 1); err != nil {
				t.Fatal(err)
			}
			select {
			case <-restarting:
			case <-time.After(wait):
				t.Fatal("the child was not restarted")
			}
			stopped := make(chan error, 1)
			go func() { stopped <- tc.stop(sup) }()
			select {
			case err := <-stopped:
				if err != nil {
					t.Errorf("%s = %v, want nil", tc.name, err)
				}
			case <-time.After(wait):
				t.Fatalf("%s did not return while a restart's Start waited for its ctx", tc.name)
			}
			if n := rec.Count(actortest.Restarted, "hanging"); n != 0 {
				t.Errorf("%d restarts reported, want 0: the restart was cut short", n)
			}
			if n := rec.Count(actortest.Stopped, "hanging"); n != 1 {
				t.Errorf("%d stopped events for the child, want 1", n)
			}
		})
	}
}

// Supervise with a ctx that ended fails, as Spawn does, even when no child
// has a Start hook to notice: the children it started are closed.
func TestSuperviseCtxEnded(t *testing.T) {
	probe := actortest.NewProbe[string](t)
	a := actor.NewChild("a", worker("a", probe.Ref()))
	ended, cancel := context.WithCancel(ctx)
	cancel()
	sup, err := actor.Supervise(ended, actor.OneForOne, []actor.ChildSpec{a})
	if sup != nil {
		sup.Close()
	}
	if sup != nil || !errors.Is(err, context.Canceled) {
		t.Fatalf("Supervise with an ended ctx = %v, %v; want an error wrapping context.Canceled", sup, err)
	}
	if err := a.Ref().Tell(ctx, "late"); !errors.Is(err, actor.ErrStopped) {
		t.Errorf("Tell to the child of a failed Supervise = %v, want ErrStopped", err)
	}
}

// panicStop is a behaviour whose Stop hook panics.
type panicStop struct{}

func (panicStop) Receive(context.Context, int) error { return nil }
func (panicStop) Stop() error                        { panic("stop hook panics") }

// A supervised child's Stop hook that panics (or fails) when the supervisor
// stops is reported with its ActorStopped, as a spawned actor's is, not
// only logged.
func TestSupervisorReportsStopHookFailure(t *testing.T) {
	for _, how := range []string{"stop", "close"} {
		t.Run(how, func(t *testing.T) {
			rec := actortest.NewRecorder()
			child := actor.NewChild("hook", func() actor.Behavior[int] { return panicStop{} })
			sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{child}, actor.WithObserver(rec))
			if err != nil {
				t.Fatal(err)
			}
			if how == "stop" {
				err = sup.Stop(ctx)
			} else {
				err = sup.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			ev := rec.Await(t, actortest.Stopped, "hook", wait)
			var pe *actor.PanicError
			if !errors.As(ev.Err, &pe) {
				t.Errorf("ActorStopped(%q, %v), want the Stop hook's *actor.PanicError", ev.Actor, ev.Err)
			}
			// And the same for a spawned actor.
			a, err := actor.Spawn(ctx, actor.Behavior[int](panicStop{}))
			if err != nil {
				t.Fatal(err)
			}
			if how == "stop" {
				err = a.Stop(ctx)
			} else {
				err = a.Close()
			}
			if !errors.As(err, &pe) {
				t.Errorf("a spawned actor's %s = %v, want the Stop hook's *actor.PanicError", how, err)
			}
		})
	}
}
