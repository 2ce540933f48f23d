package actor_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
)

// output records how it was released, into a shared log.
type output struct {
	name string
	log  *eventLog
}

func (o *output) Close() error { o.log.add(o.name + " closed"); return nil }
func (o *output) Shutdown(ctx context.Context) error {
	if ctx == nil {
		o.log.add(o.name + " shut down without a ctx")
	}
	o.log.add(o.name + " shut down")
	return nil
}

type eventLog struct {
	mu     sync.Mutex
	events []string
}

func (l *eventLog) add(e string) {
	l.mu.Lock()
	l.events = append(l.events, e)
	l.mu.Unlock()
}

func (l *eventLog) get() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.events)
}

// A supervisor's Stop releases each child's outputs before the next child
// (the one downstream, added before it) drains: a pipeline's stage sees
// everything sent to it before it stops taking messages.
func TestOutputReleasedBeforeDownstreamDrains(t *testing.T) {
	log := &eventLog{}
	stage := func(name string, opts ...actor.Option) actor.ChildSpec {
		return actor.NewChild(name, func() actor.Behavior[int] {
			return stopHook{func() { log.add(name + " stopped") }}
		}, opts...)
	}
	shared := &output{"shared", log}
	sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{
		stage("sink"),
		stage("worker-1", actor.WithOutput(shared)),
		stage("worker-2", actor.WithOutput(shared)),
		stage("source", actor.WithOutput(&output{"vent", log})),
	})
	if err != nil {
		t.Fatal(err)
	}
	stopCtx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if err := sup.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}
	want := []string{"source stopped", "vent shut down", "worker-2 stopped", "worker-1 stopped", "shared shut down", "sink stopped"}
	if got := log.get(); !slices.Equal(got, want) {
		t.Fatalf("Stop's order:\n got %q\nwant %q", got, want)
	}
}

// An actor that ends otherwise than by Stop closes its outputs.
func TestOutputClosedByClose(t *testing.T) {
	log := &eventLog{}
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
		actor.WithOutput(&output{"out", log}))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	if got := log.get(); !slices.Equal(got, []string{"out closed"}) {
		t.Fatalf("released as %q, want closed", got)
	}
}

// A refused Spawn releases an output nobody else holds, and leaves one
// that another actor holds.
func TestOutputOfRefusedSpawn(t *testing.T) {
	log := &eventLog{}
	held, alone := &output{"held", log}, &output{"alone", log}
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }), actor.WithOutput(held))
	if err != nil {
		t.Fatal(err)
	}
	_, err = actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
		actor.WithOutput(held), actor.WithOutput(alone), actor.WithMailbox(actor.Bounded(-1)))
	if !errors.Is(err, actor.ErrBadOption) {
		t.Fatalf("Spawn with a bad mailbox = %v, want ErrBadOption", err)
	}
	if got := log.get(); !slices.Equal(got, []string{"alone closed"}) {
		t.Fatalf("after the refused Spawn: %q, want only the output nobody holds closed", got)
	}
	a.Close()
	if got := log.get(); !slices.Equal(got, []string{"alone closed", "held closed"}) {
		t.Fatalf("after the holder ended: %q", got)
	}
}

func TestOutputNotComparable(t *testing.T) {
	_, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
		actor.WithOutput(closers{}))
	if !errors.Is(err, actor.ErrBadOption) {
		t.Fatalf("Spawn with an output that is not comparable = %v, want ErrBadOption", err)
	}
	if _, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }), actor.WithOutput(nil)); !errors.Is(err, actor.ErrBadOption) {
		t.Fatalf("Spawn with a nil output = %v, want ErrBadOption", err)
	}
}

type closers []func() error

func (closers) Close() error { return nil }

// stopHook is a behaviour that says when its Stop hook runs.
type stopHook struct{ f func() }

func (stopHook) Receive(context.Context, int) error { return nil }
func (h stopHook) Stop() error                      { h.f(); return nil }

// failingOutput is an output whose release fails, as an Outbox's Shutdown
// does when a peer does not confirm.
type failingOutput struct{}

var errUnconfirmed = errors.New("peer did not confirm")

func (failingOutput) Close() error                   { return errUnconfirmed }
func (failingOutput) Shutdown(context.Context) error { return errUnconfirmed }

// An output that cannot be released makes the actor's end a failure, for
// Stop's caller and for a supervised child's observer: what the actor sent
// may not have reached its peers.
func TestOutputReleaseFailureReported(t *testing.T) {
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
		actor.WithOutput(&failingOutput{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Stop(ctx); !errors.Is(err, errUnconfirmed) {
		t.Fatalf("Stop = %v, want the output's error", err)
	}

	rec := actortest.NewRecorder()
	sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{
		actor.NewChild("stage", func() actor.Behavior[int] {
			return actor.BehaviorFunc[int](func(context.Context, int) error { return nil })
		}, actor.WithOutput(&failingOutput{})),
	}, actor.WithObserver(rec))
	if err != nil {
		t.Fatal(err)
	}
	if err := sup.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	e := rec.Await(t, actortest.Stopped, "stage", time.Minute)
	if !errors.Is(e.Err, errUnconfirmed) {
		t.Fatalf("the stage stopped with %v, want the output's error", e.Err)
	}
}

// grabbing is an output that, as its release begins, has an actor made with
// it: that actor must be refused, not handed an output closed under it.
type grabbing struct {
	closed  bool
	grabbed error // the Spawn made during the release
	held    *actor.Actor[int]
}

func (g *grabbing) Close() error {
	g.held, g.grabbed = actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }), actor.WithOutput(g))
	g.closed = true
	return nil
}

// The release of an output and an actor made with it at that moment are
// ordered: the actor holds it and the release does not happen, or the
// release happens and the actor is refused; never an actor whose output is
// closed under it. Both ways to release (the last holder ending, a refused
// Spawn leaving it to nobody) are checked; the second actor is spawned from
// within Close, that is after the release was decided.
func TestOutputReleaseRacesHold(t *testing.T) {
	check := func(name string, g *grabbing) {
		t.Helper()
		if !g.closed {
			t.Fatalf("%s: output not released", name)
		}
		if g.grabbed == nil {
			g.held.Close()
			t.Fatalf("%s: an actor was spawned with an output being closed", name)
		}
		if !errors.Is(g.grabbed, actor.ErrBadOption) {
			t.Fatalf("%s: Spawn during the release = %v, want ErrBadOption", name, g.grabbed)
		}
	}

	g := &grabbing{}
	_, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
		actor.WithOutput(g), actor.WithMailbox(actor.Bounded(-1)))
	if !errors.Is(err, actor.ErrBadOption) {
		t.Fatalf("Spawn with a bad mailbox = %v, want ErrBadOption", err)
	}
	check("refused Spawn", g)

	g = &grabbing{}
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }), actor.WithOutput(g))
	if err != nil {
		t.Fatal(err)
	}
	a.Close()
	check("last holder", g)

	if actor.OutputRegistered(g) {
		t.Fatal("a released output is still registered")
	}
}
