package actortest

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
)

// Probe is an actor that records every message it receives, for a test to
// await with Expect, ExpectMsg and ExpectNone. Its behaviour never blocks, so
// its mailbox drains as fast as senders fill it.
//
// Ref, Received and Close are safe for concurrent use. The Expect methods
// consume messages in order and are meant for the test's goroutine; calling
// them from several goroutines at once splits the messages among them.
type Probe[M any] struct {
	actor *actor.Actor[M]

	mu      sync.Mutex
	pending []M // received, not yet consumed by an Expect
	all     []M
	arrived chan struct{} // capacity 1: something was appended
}

// NewProbe spawns a probe with opts (a mailbox, a name, an observer) and
// closes it when the test ends. It fails the test if the spawn fails.
func NewProbe[M any](t testing.TB, opts ...actor.Option) *Probe[M] {
	t.Helper()
	p := &Probe[M]{arrived: make(chan struct{}, 1)}
	a, err := actor.Spawn[M](context.Background(), actor.BehaviorFunc[M](p.receive), opts...)
	if err != nil {
		t.Fatalf("actortest: spawn probe: %v", err)
	}
	p.actor = a
	t.Cleanup(func() { a.Close() })
	return p
}

func (p *Probe[M]) receive(_ context.Context, m M) error {
	p.mu.Lock()
	p.pending = append(p.pending, m)
	p.all = append(p.all, m)
	p.mu.Unlock()
	select {
	case p.arrived <- struct{}{}:
	default:
	}
	return nil
}

// Ref returns the probe's address, to give to the code under test.
func (p *Probe[M]) Ref() actor.Ref[M] { return p.actor.Ref() }

// Actor returns the probe's actor, to Stop or Close it early.
func (p *Probe[M]) Actor() *actor.Actor[M] { return p.actor }

// Received returns a copy of every message received so far, in order,
// whether an Expect consumed it or not.
func (p *Probe[M]) Received() []M {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]M(nil), p.all...)
}

// next returns the oldest unconsumed message, waiting at most timeout.
func (p *Probe[M]) next(timeout time.Duration) (M, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		p.mu.Lock()
		if len(p.pending) > 0 {
			m := p.pending[0]
			var zero M
			p.pending[0] = zero
			p.pending = p.pending[1:]
			p.mu.Unlock()
			return m, true
		}
		p.mu.Unlock()
		select {
		case <-p.arrived:
		case <-timer.C:
			var zero M
			return zero, false
		}
	}
}

// Expect returns the next message the probe received, waiting at most
// timeout; it fails the test (t.Fatalf) if none arrives in time.
func (p *Probe[M]) Expect(t testing.TB, timeout time.Duration) M {
	t.Helper()
	m, ok := p.next(timeout)
	if !ok {
		t.Fatalf("actortest: probe %q: no message within %v", p.actor.Name(), timeout)
	}
	return m
}

// ExpectMsg awaits the next message like Expect and fails the test unless it
// equals want (reflect.DeepEqual).
func (p *Probe[M]) ExpectMsg(t testing.TB, want M, timeout time.Duration) {
	t.Helper()
	if got := p.Expect(t, timeout); !reflect.DeepEqual(got, want) {
		t.Fatalf("actortest: probe %q: got %v, want %v", p.actor.Name(), got, want)
	}
}

// ExpectNone fails the test if a message arrives within the given time. It
// always waits that long: it asserts an absence.
func (p *Probe[M]) ExpectNone(t testing.TB, within time.Duration) {
	t.Helper()
	if m, ok := p.next(within); ok {
		t.Fatalf("actortest: probe %q: unexpected message %v within %v", p.actor.Name(), m, within)
	}
}

func (p *Probe[M]) String() string { return fmt.Sprintf("probe %q", p.actor.Name()) }
