package patterns_test

import (
	"context"
	"errors"
	"testing"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
	"github.com/zmqflow/zmqflow/socket"
)

// nobody returns a tcp endpoint where nothing listens.
func nobody(t *testing.T) string {
	l := must[*patterns.Inbox[int]](t)(patterns.Pull(patterns.Binary[int]{}, patterns.Bind("tcp://127.0.0.1:*")))
	ep := l.Endpoint()
	l.Close()
	return ep
}

// A message an Outbox's socket discards unsent (here queued for a Connect
// whose peer never came, at Close) is a dead letter, each one, never a
// silent loss.
func TestOutboxReportsDiscarded(t *testing.T) {
	ctx := testCtx(t)
	dead := &deadCount{}
	out := must[*patterns.Outbox[int]](t)(patterns.Push(patterns.Binary[int]{}, patterns.Connect(nobody(t)),
		patterns.WithObserver(dead.observer()), patterns.WithSocketOptions(socket.WithLinger(0))))
	const n = 5
	for i := range n {
		if err := out.Tell(ctx, i); err != nil { // queued for the peer to come
			t.Fatal(err)
		}
	}
	out.Close()
	d := dead.get()
	if len(d) != n {
		t.Fatalf("%d dead letters for %d messages discarded", len(d), n)
	}
	for _, r := range d {
		if !errors.Is(r, socket.ErrDiscarded) {
			t.Fatalf("dead letter's reason %v does not wrap socket.ErrDiscarded", r)
		}
	}
	if got := out.Stats().DeadLetters; got != n {
		t.Errorf("Stats().DeadLetters = %d, want %d", got, n)
	}
}

// What a Pair mailbox's actor told its peer and the socket discarded is a
// dead letter of that actor.
func TestPairPeerDiscardedIsDeadLetter(t *testing.T) {
	ctx := testCtx(t)
	dead := &deadCount{}
	in := must[*patterns.Inbox[int]](t)(patterns.Pair(patterns.Binary[int]{}, patterns.Connect(nobody(t)),
		patterns.WithSocketOptions(socket.WithLinger(0))))
	a := spawn(t, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
		actor.WithFeed(in), actor.WithObserver(dead.observer()))
	if err := in.Peer().Tell(ctx, 7); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if d := dead.get(); len(d) != 1 || !errors.Is(d[0], socket.ErrDiscarded) {
		t.Fatalf("dead letters %v, want one wrapping socket.ErrDiscarded", d)
	}
}
