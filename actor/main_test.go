package actor_test

import (
	"context"
	"runtime"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/zmqflow/zmqflow/actor"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// wait bounds every wait in the tests: long enough for a loaded CI machine
// (ten times a stall of a second or more under -race), short enough that a
// hang fails the test instead of the run.
const wait = 15 * time.Second

// gate is a behaviour that reports each message it enters on entered, then
// holds it until release is closed (or its ctx ends), then forwards it to out.
type gate struct {
	entered chan int
	release chan struct{}
	out     actor.Ref[int]
}

func newGate(out actor.Ref[int]) *gate {
	return &gate{entered: make(chan int, 100000), release: make(chan struct{}), out: out}
}

func (g *gate) Receive(ctx context.Context, m int) error {
	g.entered <- m
	select {
	case <-g.release:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.out.Tell(ctx, m)
}

// awaitEntered waits, bounded, for the gate to enter message want.
func (g *gate) awaitEntered(t *testing.T, want int) {
	t.Helper()
	select {
	case got := <-g.entered:
		if got != want {
			t.Fatalf("gate entered %d, want %d", got, want)
		}
	case <-time.After(wait):
		t.Fatalf("gate did not enter %d within %v", want, wait)
	}
}

// awaitDone waits, bounded, for a Done channel.
func awaitDone(t *testing.T, what string, done <-chan struct{}) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(wait):
		t.Fatalf("%s did not end within %v", what, wait)
	}
}

// awaitCond waits, bounded, for cond to hold: for states that emit no event,
// like a message sitting in a mailbox.
func awaitCond(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, wait)
		}
		runtime.Gosched()
	}
}

func recv[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(wait):
		t.Fatalf("%s: nothing within %v", what, wait)
		panic("unreachable")
	}
}
