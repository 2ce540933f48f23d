package actor_test

import (
	"context"
	"errors"
	"sync"
	"testing"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
)

// waitWatch is a ctx that reports, on waiting, the first call of Done: the
// tell under test calls it only once every mailbox was found full and it
// registered for room, so room made after waiting is closed must wake it.
type waitWatch struct {
	context.Context
	once    sync.Once
	waiting chan struct{}
}

func newWaitWatch(ctx context.Context) *waitWatch {
	return &waitWatch{Context: ctx, waiting: make(chan struct{})}
}

func (w *waitWatch) Done() <-chan struct{} {
	w.once.Do(func() { close(w.waiting) })
	return w.Context.Done()
}

// fullGates spawns n gates with Bounded(1) mailboxes forwarding to out, and
// fills each with one message it holds (message i for gate i).
func fullGates(t *testing.T, n int, out actor.Ref[int], opts ...actor.Option) ([]*gate, []actor.Ref[int]) {
	t.Helper()
	gates := make([]*gate, n)
	refs := make([]actor.Ref[int], n)
	for i := range n {
		gates[i] = newGate(out)
		a, err := actor.Spawn[int](context.Background(), gates[i], append([]actor.Option{actor.WithMailbox(actor.Bounded(1))}, opts...)...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { a.Close() })
		refs[i] = a.Ref()
		if err := a.TryTell(i); err != nil {
			t.Fatal(err)
		}
		gates[i].awaitEntered(t, i)
	}
	return gates, refs
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), wait)
	t.Cleanup(cancel)
	return ctx
}

// A TellAny that finds every mailbox full waits for whichever makes room
// first, whatever its place in the turn, and delivers to that one.
func TestTellAnyWaitsForFirstRoom(t *testing.T) {
	const n = 3
	for free := range n {
		for from := range n {
			out := actortest.NewProbe[int](t)
			gates, refs := fullGates(t, n, out.Ref())
			if _, err := actor.TryTellAny(refs, from, 100); !errors.Is(err, actor.ErrMailboxFull) {
				t.Fatalf("TryTellAny to full mailboxes = %v, want ErrMailboxFull", err)
			}
			ctx := newWaitWatch(testCtx(t))
			type result struct {
				k   int
				err error
			}
			done := make(chan result, 1)
			go func() {
				k, err := actor.TellAny(ctx, refs, from, 100)
				done <- result{k, err}
			}()
			recv(t, "TellAny waiting", ctx.waiting)
			close(gates[free].release)
			r := <-done // bounded by ctx
			if r.err != nil || r.k != free {
				t.Fatalf("free %d, from %d: TellAny = %d, %v; want %d, nil", free, from, r.k, r.err, free)
			}
			gates[free].awaitEntered(t, 100)
			for i, g := range gates {
				if i != free {
					close(g.release)
				}
				if w := actor.WaitingSenders(refs[i]); w != 0 {
					t.Errorf("%d senders still registered on actor %d", w, i)
				}
			}
		}
	}
}

// Round-robin from from, over those with room; none is passed over for a
// full one, and a dropping or Unbounded mailbox always has room.
func TestTellAnyTurn(t *testing.T) {
	out := actortest.NewProbe[int](t)
	gates, refs := fullGates(t, 2, out.Ref())
	defer func() {
		for _, g := range gates {
			close(g.release)
		}
	}()
	var spare []actor.Ref[int]
	for _, mb := range []actor.Mailbox{actor.Bounded(10), actor.DropNewest(1), actor.Unbounded()} {
		spare = append(spare, actortest.NewProbe[int](t, actor.WithMailbox(mb)).Ref())
	}
	refs = append(refs, spare...)
	for from, want := range []int{2, 2, 2, 3, 4, 2, 2} {
		k, err := actor.TellAny(testCtx(t), refs, from, from)
		if err != nil || k != want {
			t.Errorf("TellAny from %d = %d, %v; want %d", from, k, err, want)
		}
	}
	if k, err := actor.TryTellAny(refs, -1, 0); err != nil || k != 4 {
		t.Errorf("TryTellAny from -1 = %d, %v; want 4 (from is modulo len)", k, err)
	}
}

// An actor that is gone is passed over without a dead letter; when all
// are, the message is a dead letter once, and TellAny returns ErrStopped.
func TestTellAnyPassesOverStopped(t *testing.T) {
	rec := actortest.NewRecorder()
	var stopped actor.Ref[int]
	{
		a, err := actor.Spawn[int](context.Background(), actor.BehaviorFunc[int](func(context.Context, int) error { return nil }), actor.WithObserver(rec), actor.WithName("gone"))
		if err != nil {
			t.Fatal(err)
		}
		a.Close()
		stopped = a.Ref()
	}
	live := actortest.NewProbe[int](t, actor.WithObserver(rec), actor.WithName("live"))
	refs := []actor.Ref[int]{stopped, {}, live.Ref()}
	for i := range 6 {
		if k, err := actor.TellAny(testCtx(t), refs, i, i); err != nil || k != 2 {
			t.Fatalf("TellAny from %d = %d, %v; want 2, nil", i, k, err)
		}
		if k, err := actor.TryTellAny(refs, i, 10+i); err != nil || k != 2 {
			t.Fatalf("TryTellAny from %d = %d, %v; want 2, nil", i, k, err)
		}
	}
	for range 12 {
		live.Expect(t, wait)
	}
	if n := rec.Count(actortest.DeadLetter, ""); n != 0 {
		t.Fatalf("%d dead letters for messages delivered; events %v", n, rec.Events())
	}
	live.Actor().Close()
	if _, err := actor.TellAny(testCtx(t), refs, 1, 99); !errors.Is(err, actor.ErrStopped) {
		t.Fatalf("TellAny to stopped actors = %v, want ErrStopped", err)
	}
	if _, err := actor.TryTellAny(refs, 0, 98); !errors.Is(err, actor.ErrStopped) {
		t.Fatalf("TryTellAny to stopped actors = %v, want ErrStopped", err)
	}
	var got []any
	for _, e := range rec.Events() {
		if e.Kind == actortest.DeadLetter {
			got = append(got, e.Actor, e.Message)
		}
	}
	if len(got) != 4 || got[0] != "live" || got[1] != 99 || got[2] != "gone" || got[3] != 98 {
		t.Fatalf("dead letters %v, want 99 once (live's, the first with a mailbox from 1) and 98 once (gone's)", got)
	}
}

// When ctx ends first: ErrMailboxFull wrapping ctx's error, the message
// delivered nowhere, and no registration left behind.
func TestTellAnyCtx(t *testing.T) {
	out := actortest.NewProbe[int](t)
	gates, refs := fullGates(t, 2, out.Ref())
	ctx, cancel := context.WithCancel(context.Background())
	w := newWaitWatch(ctx)
	done := make(chan error, 1)
	go func() {
		_, err := actor.TellAny(w, refs, 0, 100)
		done <- err
	}()
	recv(t, "TellAny waiting", w.waiting)
	cancel()
	if err := recv(t, "TellAny", done); !errors.Is(err, actor.ErrMailboxFull) || !errors.Is(err, context.Canceled) {
		t.Fatalf("TellAny = %v, want ErrMailboxFull wrapping context.Canceled", err)
	}
	for i := range refs {
		if n := actor.WaitingSenders(refs[i]); n != 0 {
			t.Errorf("%d senders still registered on actor %d", n, i)
		}
	}
	for _, g := range gates {
		close(g.release)
	}
	got := map[int]bool{out.Expect(t, wait): true, out.Expect(t, wait): true}
	if !got[0] || !got[1] {
		t.Fatalf("forwarded %v, want 0 and 1", got)
	}
	out.ExpectNone(t, 0)
}

func TestTellAnyBadRefs(t *testing.T) {
	if _, err := actor.TellAny(testCtx(t), nil, 0, 1); !errors.Is(err, actor.ErrBadOption) {
		t.Errorf("TellAny to no actor = %v, want ErrBadOption", err)
	}
	remote := actor.RefTo[int](nopRemote{})
	if _, err := actor.TryTellAny([]actor.Ref[int]{remote}, 0, 1); !errors.Is(err, actor.ErrBadOption) {
		t.Errorf("TryTellAny to a Remote = %v, want ErrBadOption", err)
	}
}

type nopRemote struct{}

func (nopRemote) Tell(context.Context, int) error { return nil }
func (nopRemote) TryTell(int) error               { return nil }
func (nopRemote) Name() string                    { return "nop" }
func (nopRemote) Stats() actor.Stats              { return actor.Stats{} }

// Many senders over actors with small mailboxes, all but one of which are
// closed while they tell: every message is handled once or, left in a
// mailbox that was closed, a dead letter once; none is both, and none is
// refused while an actor runs.
func TestTellAnyConcurrent(t *testing.T) {
	const actors, senders, each = 4, 8, 500
	rec := actortest.NewRecorder()
	var mu sync.Mutex
	handled := map[int]int{}
	var refs []actor.Ref[int]
	var as []*actor.Actor[int]
	for range actors {
		a, err := actor.Spawn[int](context.Background(), actor.BehaviorFunc[int](func(_ context.Context, m int) error {
			mu.Lock()
			handled[m]++
			mu.Unlock()
			return nil
		}), actor.WithMailbox(actor.Bounded(1)), actor.WithObserver(rec))
		if err != nil {
			t.Fatal(err)
		}
		as = append(as, a)
		refs = append(refs, a.Ref())
	}
	var wg sync.WaitGroup
	stopped := make(chan error, senders*each)
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				m := s*each + i
				if i == each/2 && s == 0 {
					for _, a := range as[:actors-1] {
						a.Close() // all but one, while the others tell
					}
				}
				if _, err := actor.TellAny(testCtx(t), refs, m, m); err != nil {
					if !errors.Is(err, actor.ErrStopped) {
						t.Errorf("TellAny(%d) = %v", m, err)
					}
					stopped <- err
				}
			}
		})
	}
	wg.Wait()
	if err := as[actors-1].Stop(testCtx(t)); err != nil {
		t.Fatal(err)
	}
	for _, a := range as {
		a.Close()
	}
	dead := map[int]int{}
	for _, e := range rec.Events() {
		if e.Kind == actortest.DeadLetter {
			dead[e.Message.(int)]++
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for m := range senders * each {
		if handled[m]+dead[m] != 1 {
			t.Errorf("message %d handled %d times, dead letter %d times; want once in all", m, handled[m], dead[m])
		}
	}
	if len(stopped) != 0 {
		t.Errorf("%d TellAny returned ErrStopped while an actor ran", len(stopped))
	}
}
