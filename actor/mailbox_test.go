package actor_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
)

func TestBoundedBlocksWithinCtx(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	g := newGate(probe.Ref())
	a, _ := actor.Spawn[int](ctx, g, actor.WithMailbox(actor.Bounded(2)))
	defer a.Close()
	a.Tell(ctx, 0)
	g.awaitEntered(t, 0) // 0 is being handled: it still counts
	if err := a.Tell(ctx, 1); err != nil {
		t.Fatal(err)
	}
	if err := a.TryTell(2); !errors.Is(err, actor.ErrMailboxFull) {
		t.Fatalf("TryTell on a full mailbox = %v", err)
	}
	tctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if err := a.Tell(tctx, 2); !errors.Is(err, actor.ErrMailboxFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Tell on a full mailbox = %v", err)
	}
	told := make(chan error, 1)
	go func() { told <- a.Tell(ctx, 3) }() // blocks until there is room
	close(g.release)
	if err := recv(t, "blocked Tell", told); err != nil {
		t.Fatal(err)
	}
	probe.ExpectMsg(t, 0, wait)
	probe.ExpectMsg(t, 1, wait)
	probe.ExpectMsg(t, 3, wait)
	if st := a.Stats(); st.DeadLetters != 0 { // refused messages stay with the sender
		t.Fatalf("stats %+v", st)
	}
}

func TestBlockedSenderReleasedByStop(t *testing.T) {
	g := newGate(actor.Ref[int]{})
	a, _ := actor.Spawn[int](ctx, g, actor.WithMailbox(actor.Bounded(1)))
	a.Tell(ctx, 0)
	g.awaitEntered(t, 0)
	told := make(chan error, 1)
	go func() { told <- a.Tell(ctx, 1) }()
	a.Close()
	if err := recv(t, "blocked Tell", told); !errors.Is(err, actor.ErrStopped) {
		t.Fatalf("blocked Tell after Close = %v", err)
	}
}

func TestDropNewestReportsEachDrop(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	rec := actortest.NewRecorder()
	g := newGate(probe.Ref())
	a, _ := actor.Spawn[int](ctx, g, actor.WithName("dn"), actor.WithObserver(rec), actor.WithMailbox(actor.DropNewest(2)))
	defer a.Close()
	a.Tell(ctx, 0)
	g.awaitEntered(t, 0) // in hand: not counted by a dropping mailbox
	for i := 1; i <= 5; i++ {
		if err := a.TryTell(i); err != nil { // never fails, never blocks
			t.Fatal(err)
		}
	}
	for _, want := range []int{3, 4, 5} {
		e := rec.Await(t, actortest.DeadLetter, "dn", wait)
		if e.Message != want || !errors.Is(e.Err, actor.ErrDropped) {
			t.Fatalf("dead letter %v, want %d dropped", e, want)
		}
	}
	close(g.release)
	for _, want := range []int{0, 1, 2} {
		probe.ExpectMsg(t, want, wait)
	}
	probe.ExpectNone(t, 20*time.Millisecond)
	if st := a.Stats(); st.DeadLetters != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDropOldestReportsEachDrop(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	rec := actortest.NewRecorder()
	g := newGate(probe.Ref())
	a, _ := actor.Spawn[int](ctx, g, actor.WithName("do"), actor.WithObserver(rec), actor.WithMailbox(actor.DropOldest(2)))
	defer a.Close()
	a.Tell(ctx, 0)
	g.awaitEntered(t, 0)
	for i := 1; i <= 5; i++ {
		if err := a.Tell(ctx, i); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range []int{1, 2, 3} {
		e := rec.Await(t, actortest.DeadLetter, "do", wait)
		if e.Message != want || !errors.Is(e.Err, actor.ErrDropped) {
			t.Fatalf("dead letter %v, want %d dropped", e, want)
		}
	}
	close(g.release)
	for _, want := range []int{0, 4, 5} { // the latest two survive
		probe.ExpectMsg(t, want, wait)
	}
	if st := a.Stats(); st.DeadLetters != 3 {
		t.Fatalf("stats %+v", st)
	}
}

func TestUnboundedNeverBlocks(t *testing.T) {
	probe := actortest.NewProbe[int](t, actor.WithMailbox(actor.Unbounded()))
	g := newGate(probe.Ref())
	a, _ := actor.Spawn[int](ctx, g, actor.WithMailbox(actor.Unbounded()))
	defer a.Close()
	const n = 20000
	for i := range n {
		if err := a.TryTell(i); err != nil {
			t.Fatal(err)
		}
	}
	close(g.release)
	for i := range n {
		probe.ExpectMsg(t, i, wait)
	}
}

func TestMailboxNames(t *testing.T) {
	for m, want := range map[actor.Mailbox]string{
		{}:                  "bounded(1000)",
		actor.Bounded(5):    "bounded(5)",
		actor.DropNewest(3): "drop-newest(3)",
		actor.DropOldest(1): "drop-oldest(1)",
		actor.Unbounded():   "unbounded",
	} {
		if m.String() != want {
			t.Errorf("%v: want %s", m, want)
		}
	}
}
