package patterns

// Tests of Workers' Ref on spawned actors, so that each worker can be held
// full or stopped on its own.

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
)

const poolWait = 20 * time.Second // bounds every wait, as main_test.go's wait

func poolCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), poolWait)
	t.Cleanup(cancel)
	return ctx
}

// entry is a message a worker entered.
type entry struct{ worker, m int }

// heldWorkers spawns n workers with Bounded(1) mailboxes; each reports the
// messages it enters on entered and holds each until its release is closed.
func heldWorkers(t *testing.T, n int, entered chan<- entry) ([]actor.Ref[int], []chan struct{}) {
	t.Helper()
	refs := make([]actor.Ref[int], n)
	release := make([]chan struct{}, n)
	for i := range n {
		release[i] = make(chan struct{})
		a, err := actor.Spawn[int](context.Background(), actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
			entered <- entry{i, m}
			select {
			case <-release[i]:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}), actor.WithMailbox(actor.Bounded(1)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		refs[i] = a.Ref()
	}
	return refs, release
}

func awaitEntry(t *testing.T, entered <-chan entry) entry {
	t.Helper()
	select {
	case e := <-entered:
		return e
	case <-time.After(poolWait):
		t.Fatalf("no worker entered a message within %v", poolWait)
		return entry{}
	}
}

// firstDone is a ctx that closes waiting at the first call of Done: a Tell
// calls it only once it found every mailbox full and waits for room.
type firstDone struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func (c *firstDone) Done() <-chan struct{} {
	c.once.Do(func() { close(c.waiting) })
	return c.Context.Done()
}

// A Tell that finds every worker full waits for whichever makes room first
// and delivers to it, as PUSH does, not for the next worker in turn.
func TestPoolTellWaitsForAnyWorker(t *testing.T) {
	const n = 2
	for free := range n {
		entered := make(chan entry, 10)
		refs, release := heldWorkers(t, n, entered)
		p := &pool[int]{name: "test (2 workers)", refs: refs}
		for m := range n {
			if err := p.Tell(poolCtx(t), m); err != nil {
				t.Fatal(err)
			}
		}
		if a, b := awaitEntry(t, entered), awaitEntry(t, entered); a.worker == b.worker {
			t.Fatalf("both messages dealt to worker %d", a.worker)
		}
		if err := p.TryTell(99); !errors.Is(err, actor.ErrMailboxFull) {
			t.Fatalf("TryTell to full workers = %v, want ErrMailboxFull", err)
		}
		ctx := &firstDone{Context: poolCtx(t), waiting: make(chan struct{})}
		told := make(chan error, 1)
		go func() { told <- p.Tell(ctx, 100) }()
		select {
		case <-ctx.waiting:
		case <-time.After(poolWait):
			t.Fatal("Tell did not wait")
		}
		close(release[free])
		if err := <-told; err != nil { // bounded by ctx
			t.Fatalf("worker %d made room: Tell = %v", free, err)
		}
		if e := awaitEntry(t, entered); e != (entry{free, 100}) {
			t.Fatalf("entered %+v, want message 100 in worker %d, the one with room", e, free)
		}
		for i, r := range release {
			if i != free {
				close(r)
			}
		}
	}
}

// A Tell that finds every worker full returns ErrMailboxFull wrapping ctx's
// error when ctx ends first, and the message went to no worker.
func TestPoolTellCtx(t *testing.T) {
	entered := make(chan entry, 10)
	refs, release := heldWorkers(t, 2, entered)
	p := &pool[int]{name: "test (2 workers)", refs: refs}
	for m := range 2 {
		if err := p.Tell(poolCtx(t), m); err != nil {
			t.Fatal(err)
		}
		awaitEntry(t, entered)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Millisecond)
	defer cancel()
	if err := p.Tell(ctx, 100); !errors.Is(err, actor.ErrMailboxFull) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Tell = %v, want ErrMailboxFull wrapping DeadlineExceeded", err)
	}
	for _, r := range release {
		close(r)
	}
	for _, r := range refs {
		if err := r.Tell(poolCtx(t), -1); err != nil { // after what is queued
			t.Fatal(err)
		}
	}
	for range 2 {
		if e := awaitEntry(t, entered); e.m != -1 {
			t.Fatalf("worker %d entered %d after ctx ended", e.worker, e.m)
		}
	}
}

// A worker that is gone is passed over, and the message is delivered to
// another without being a dead letter too; when every worker is gone, it is
// a dead letter once and Tell returns ErrStopped.
func TestPoolPassesOverStoppedWorker(t *testing.T) {
	rec := actortest.NewRecorder()
	var got sync.Map
	var refs []actor.Ref[int]
	var workers []*actor.Actor[int]
	for range 2 {
		a, err := actor.Spawn[int](context.Background(), actor.BehaviorFunc[int](func(_ context.Context, m int) error {
			if _, dup := got.LoadOrStore(m, true); dup {
				t.Errorf("message %d handled twice", m)
			}
			return nil
		}), actor.WithObserver(rec))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		refs = append(refs, a.Ref())
		workers = append(workers, a)
	}
	workers[0].Close()
	p := &pool[int]{name: "test (2 workers)", refs: refs}
	for m := range 4 { // from each worker in turn, twice
		if err := p.Tell(poolCtx(t), m); err != nil {
			t.Fatalf("Tell(%d) = %v", m, err)
		}
		if err := p.TryTell(10 + m); err != nil {
			t.Fatalf("TryTell(%d) = %v", 10+m, err)
		}
	}
	if err := workers[1].Stop(poolCtx(t)); err != nil {
		t.Fatal(err)
	}
	for m := range 4 {
		for _, k := range []int{m, 10 + m} {
			if _, ok := got.Load(k); !ok {
				t.Errorf("message %d not handled", k)
			}
		}
	}
	if n := rec.Count(actortest.DeadLetter, ""); n != 0 {
		t.Fatalf("%d dead letters for messages delivered: %v", n, rec.Events())
	}
	if err := p.Tell(poolCtx(t), 99); !errors.Is(err, actor.ErrStopped) {
		t.Fatalf("Tell with every worker gone = %v, want ErrStopped", err)
	}
	if n := rec.Count(actortest.DeadLetter, ""); n != 1 {
		t.Fatalf("message 99 is %d dead letters, want 1: %v", n, rec.Events())
	}
}
