package actor_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
)

// gated is a behaviour that holds its first message ("gate") until release
// closes, so that what is told meanwhile reaches it as one batch; it panics
// on "panic" and reports every other message on got.
func gated(release <-chan struct{}, got chan<- string) actor.Behavior[string] {
	return actor.BehaviorFunc[string](func(_ context.Context, m string) error {
		switch m {
		case "gate":
			<-release
		case "panic":
			panic("boom")
		default:
			got <- m
		}
		return nil
	})
}

func collect(t *testing.T, got <-chan string, n int) []string {
	t.Helper()
	var out []string
	for range n {
		select {
		case m := <-got:
			out = append(out, m)
		case <-time.After(wait):
			t.Fatalf("got %v, want %d messages", out, n)
		}
	}
	return out
}

// A panic in the middle of a batch, with no observer (the actor's untimed
// path, which recovers once a batch): the messages before it were handled
// once, the one that panicked is not handled again, and the rest wait in
// the mailbox for the restarted incarnation, in order.
func TestPanicMidBatchUntimed(t *testing.T) {
	release, got := make(chan struct{}), make(chan string, 16)
	first := true
	child := actor.NewChild("w", func() actor.Behavior[string] {
		if first { // the restarted incarnation does not wait at the gate
			first = false
			return gated(release, got)
		}
		return gated(nil, got)
	})
	sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{child}, actor.WithBackoff(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	ref := child.Ref()
	for _, m := range []string{"gate", "a", "b", "panic", "c", "d"} {
		if err := ref.Tell(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	if out := collect(t, got, 4); !slices.Equal(out, []string{"a", "b", "c", "d"}) {
		t.Fatalf("handled %v, want a b c d", out)
	}
	// One more message, after all of those: had "panic" gone back in the
	// mailbox, it would have failed the new incarnation before this came.
	if err := ref.Tell(ctx, "e"); err != nil {
		t.Fatal(err)
	}
	if out := collect(t, got, 1); out[0] != "e" {
		t.Fatalf("handled %v, want e", out)
	}
	if st := ref.Stats(); st.Restarts != 1 {
		t.Fatalf("%d restarts, want 1", st.Restarts)
	}
}

// The same without a supervisor: the actor fails with the panic, and what
// its batch held after the panic becomes dead letters.
func TestPanicMidBatchFailsActor(t *testing.T) {
	release, got := make(chan struct{}), make(chan string, 16)
	a, err := actor.Spawn(ctx, gated(release, got))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for _, m := range []string{"gate", "a", "panic", "c", "d"} {
		if err := a.Tell(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	close(release)
	awaitDone(t, "actor", a.Done())
	var pe *actor.PanicError
	if err := a.Err(); !errors.As(err, &pe) || pe.Value != "boom" || len(pe.Stack) == 0 {
		t.Fatalf("Err = %v; want a PanicError with its stack", err)
	}
	if out := collect(t, got, 1); out[0] != "a" {
		t.Fatalf("handled %v, want a", out)
	}
	if st := a.Stats(); st.Handled != 3 || st.DeadLetters != 2 {
		t.Fatalf("%d handled, %d dead letters; want 3 (gate, a, panic) and 2 (c, d)", st.Handled, st.DeadLetters)
	}
}
