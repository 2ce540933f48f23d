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
