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

// logStops is a behaviour that forwards its messages to out and records its
// Stop hook in stops, so that tests see the order of a tree's shutdown.
type logStops struct {
	name  string
	out   actor.Ref[string]
	mu    *sync.Mutex
	stops *[]string
}

func (l *logStops) Receive(ctx context.Context, m string) error {
	if m == "crash" {
		return errCrash
	}
	return l.out.Tell(ctx, l.name+":"+m)
}

func (l *logStops) Stop() error {
	l.mu.Lock()
	*l.stops = append(*l.stops, l.name)
	l.mu.Unlock()
	return nil
}

type tree struct {
	top      *actor.Supervisor
	sub      *actor.SupervisorChild
	children map[string]*actor.Child[string]
	probe    *actortest.Probe[string]
	rec      *actortest.Recorder
	mu       sync.Mutex
	stops    []string
}

// newTree starts top{a, sub{b, c}, d}; sub gives up after subIntensity
// restarts, top after topIntensity.
func newTree(t *testing.T, subIntensity, topIntensity int) *tree {
	t.Helper()
	tr := &tree{children: map[string]*actor.Child[string]{}, probe: actortest.NewProbe[string](t), rec: actortest.NewRecorder()}
	child := func(name string) *actor.Child[string] {
		ch := actor.NewChild(name, func() actor.Behavior[string] {
			return &logStops{name: name, out: tr.probe.Ref(), mu: &tr.mu, stops: &tr.stops}
		})
		tr.children[name] = ch
		return ch
	}
	a, b, c, d := child("a"), child("b"), child("c"), child("d")
	tr.sub = actor.NewSupervisor("sub", actor.OneForOne, []actor.ChildSpec{b, c},
		actor.WithIntensity(subIntensity, time.Minute), actor.WithBackoff(0, 0))
	top, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{a, tr.sub, d},
		actor.WithName("top"), actor.WithObserver(tr.rec),
		actor.WithIntensity(topIntensity, time.Minute), actor.WithBackoff(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	tr.top = top
	return tr
}

func (tr *tree) stopOrder() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return slices.Clone(tr.stops)
}

func TestTreeStopsInReverseOrder(t *testing.T) {
	tr := newTree(t, 3, 3)
	for _, name := range []string{"a", "b", "c", "d"} {
		if err := tr.children[name].Ref().Tell(ctx, "hi"); err != nil {
			t.Fatal(err)
		}
	}
	for range 4 {
		tr.probe.Expect(t, wait)
	}
	if err := tr.top.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := tr.stopOrder(), []string{"d", "c", "b", "a"}; !slices.Equal(got, want) {
		t.Errorf("stop order %v, want %v (reverse of start, through the subtree)", got, want)
	}
	for _, name := range []string{"a", "b", "c", "d", "sub"} {
		if n := tr.rec.Count(actortest.Stopped, name); n != 1 {
			t.Errorf("%s: %d stopped events, want 1", name, n)
		}
	}
}

// A child of the subtree failing beyond the subtree's intensity escalates:
// the parent restarts the whole subtree, and the messages waiting in the
// failed child's mailbox are handled by its next incarnation.
func TestTreeEscalates(t *testing.T) {
	tr := newTree(t, 0, 3) // sub never restarts a child itself
	b := tr.children["b"].Ref()
	// b fails; its next messages wait in its mailbox through the subtree's
	// restart by top.
	for _, m := range []string{"crash", "1", "2", "3"} {
		if err := b.Tell(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []string{"b:1", "b:2", "b:3"} {
		tr.probe.ExpectMsg(t, want, wait)
	}
	if n := tr.sub.Restarts(); n != 1 {
		t.Errorf("subtree restarted %d times, want 1", n)
	}
	ev := tr.rec.Await(t, actortest.Restarted, "sub", wait)
	if !errors.Is(ev.Err, actor.ErrRestartIntensity) || !errors.Is(ev.Err, errCrash) {
		t.Errorf("subtree restart cause %v, want the subtree's intensity wrapping b's crash", ev.Err)
	}
	// The siblings outside the subtree were not touched; the one inside
	// was restarted with it.
	if n := tr.rec.Count(actortest.Restarted, "a") + tr.rec.Count(actortest.Restarted, "d"); n != 0 {
		t.Errorf("%d restarts outside the subtree, want 0", n)
	}
	if err := tr.top.Stop(ctx); err != nil {
		t.Fatal(err)
	}
}

// When the parent's intensity is spent too, the failure goes up to the top,
// which gives up, closing everything.
func TestTreeGivesUpAtTheTop(t *testing.T) {
	tr := newTree(t, 0, 0)
	if err := tr.children["c"].Ref().Tell(ctx, "crash"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-tr.top.Done():
	case <-time.After(wait):
		t.Fatal("top did not give up")
	}
	err := tr.top.Err()
	if !errors.Is(err, actor.ErrRestartIntensity) || !errors.Is(err, errCrash) {
		t.Fatalf("top's error %v, want intensity wrapping the subtree's, wrapping c's crash", err)
	}
	if err := tr.children["a"].Ref().Tell(ctx, "late"); !errors.Is(err, actor.ErrStopped) {
		t.Errorf("Tell after the top gave up = %v, want ErrStopped", err)
	}
	if got, want := tr.stopOrder(), []string{"c", "b", "d", "a"}; !slices.Equal(got, want) {
		// c failed (its Stop hook runs first), the subtree halted b, then
		// the top closed d and a, last first.
		t.Errorf("stop order %v, want %v", got, want)
	}
}

func TestTreeChildUsedTwice(t *testing.T) {
	sub := actor.NewSupervisor("sub", actor.OneForOne, nil)
	top, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{sub})
	if err != nil {
		t.Fatal(err)
	}
	defer top.Close()
	if _, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{sub}); !errors.Is(err, actor.ErrBadOption) {
		t.Fatalf("second Supervise of one subtree = %v, want ErrBadOption", err)
	}
}

// In a tree three deep, each actor and supervisor is reported started once
// and stopped once, however the tree ends.
func TestTreeThreeDeepReportsOnce(t *testing.T) {
	for _, how := range []string{"stop", "close"} {
		t.Run(how, func(t *testing.T) {
			probe := actortest.NewProbe[string](t)
			rec := actortest.NewRecorder()
			a := actor.NewChild("a", worker("a", probe.Ref()))
			inner := actor.NewSupervisor("inner", actor.OneForOne, []actor.ChildSpec{a})
			middle := actor.NewSupervisor("middle", actor.OneForOne, []actor.ChildSpec{inner})
			top, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{middle},
				actor.WithName("top"), actor.WithObserver(rec))
			if err != nil {
				t.Fatal(err)
			}
			if how == "stop" {
				err = top.Stop(ctx)
			} else {
				err = top.Close()
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, name := range []string{"a", "inner", "middle", "top"} {
				if s, e := rec.Count(actortest.Started, name), rec.Count(actortest.Stopped, name); s != 1 || e != 1 {
					t.Errorf("%s: started %d, stopped %d times; want 1 and 1", name, s, e)
				}
			}
		})
	}
}
