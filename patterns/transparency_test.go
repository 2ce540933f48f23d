package patterns_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/patterns"
)

// refs are what the location-transparency body runs against: a reference
// to an actor that passes what it is told on to seen, and one to an actor
// that answers a query q with q*q (an error for q < 0).
type refs struct {
	tell actor.Ref[int]
	ask  actor.Ref[actor.Request[int, int]]
	seen chan int
}

func forwarder(seen chan<- int) actor.Behavior[int] {
	return actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
		select {
		case seen <- m:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
}

var errNegative = errors.New("negative")

func squarer() actor.Behavior[actor.Request[int, int]] {
	return actor.BehaviorFunc[actor.Request[int, int]](func(ctx context.Context, r actor.Request[int, int]) error {
		if r.Query < 0 {
			r.Reply(0, errNegative)
			return nil
		}
		r.Reply(r.Query*r.Query, nil)
		return nil
	})
}

func spawn[M any](t *testing.T, b actor.Behavior[M], opts ...actor.Option) *actor.Actor[M] {
	t.Helper()
	a, err := actor.Spawn(testCtx(t), b, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func localRefs(t *testing.T) refs {
	seen := make(chan int, 10000)
	return refs{tell: spawn(t, forwarder(seen)).Ref(), ask: spawn(t, squarer()).Ref(), seen: seen}
}

// remoteRefs puts the same two actors behind socket mailboxes (PULL, and
// ROUTER for requests) and reaches them through Outboxes (PUSH, DEALER).
func remoteRefs(t *testing.T, transport string) refs {
	seen := make(chan int, 10000)
	pull := must[*patterns.Inbox[int]](t)(patterns.Pull(patterns.Binary[int]{}, patterns.Bind(endpoint(t, transport))))
	spawn(t, forwarder(seen), actor.WithFeed(pull))
	router := must[*patterns.Inbox[actor.Request[int, int]]](t)(
		patterns.Router(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind(endpoint(t, transport))))
	spawn(t, squarer(), actor.WithFeed(router))

	push := must[*patterns.Outbox[int]](t)(patterns.Push(patterns.Binary[int]{}, patterns.Connect(pull.Endpoint())))
	t.Cleanup(func() { push.Close() })
	dealer := must[*patterns.Outbox[actor.Request[int, int]]](t)(
		patterns.Dealer(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Connect(router.Endpoint())))
	t.Cleanup(func() { dealer.Close() })
	return refs{tell: push.Ref(), ask: dealer.Ref(), seen: seen}
}

// TestLocationTransparency runs one body against a local reference and remote
// ones over inproc, ipc and tcp: the same calls, the same results.
func TestLocationTransparency(t *testing.T) {
	t.Run("local", func(t *testing.T) { exercise(t, localRefs(t)) })
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) { exercise(t, remoteRefs(t, tr)) })
	}
}

func exercise(t *testing.T, r refs) {
	ctx := testCtx(t)
	// Tell: everything arrives, once, in the order told by one sender.
	const n = 2000
	for i := range n {
		if err := r.tell.Tell(ctx, i); err != nil {
			t.Fatalf("Tell(%d): %v", i, err)
		}
	}
	for i := range n {
		select {
		case got := <-r.seen:
			if got != i {
				t.Fatalf("message %d arrived as %d: out of order or lost", i, got)
			}
		case <-ctx.Done():
			t.Fatalf("message %d never arrived", i)
		}
	}
	// Ask: many in flight at once, each reply to its asker.
	var wg sync.WaitGroup
	for q := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			got, err := actor.Ask(ctx, r.ask, q)
			if err != nil || got != q*q {
				t.Errorf("Ask(%d) = %d, %v; want %d", q, got, err, q*q)
			}
		}()
	}
	wg.Wait()
	// An Asker: one goroutine, request after request in one reply slot.
	asker := actor.NewAsker(r.ask)
	for q := range 20 {
		if got, err := asker.Ask(ctx, q); err != nil || got != q*q {
			t.Errorf("Asker's Ask(%d) = %d, %v; want %d", q, got, err, q*q)
		}
	}
	// The actor's error reaches the asker.
	if _, err := actor.Ask(ctx, r.ask, -1); err == nil || !strings.Contains(err.Error(), errNegative.Error()) {
		t.Errorf("Ask(-1) = %v, want the actor's error %q", err, errNegative)
	}
	// A deadline that passed: the ask ends with it.
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := actor.Ask(done, r.ask, 3); !errors.Is(err, context.Canceled) {
		t.Errorf("Ask with an ended ctx = %v, want it to wrap context.Canceled", err)
	}
}

// A request that a dropping mailbox drops ends its Ask with actor.ErrDropped,
// whether the actor is local or behind a Router over any transport: the
// same error, not ErrStopped (the actor did not stop).
func TestDroppedRequestSameError(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		testDroppedRequest(t, func(b actor.Behavior[actor.Request[int, int]]) actor.Ref[actor.Request[int, int]] {
			return spawn(t, b, actor.WithMailbox(actor.DropOldest(1))).Ref()
		})
	})
	for _, tr := range transports {
		t.Run(tr, func(t *testing.T) {
			testDroppedRequest(t, func(b actor.Behavior[actor.Request[int, int]]) actor.Ref[actor.Request[int, int]] {
				in := must[*patterns.Inbox[actor.Request[int, int]]](t)(
					patterns.Router(patterns.Binary[int]{}, patterns.Binary[int]{}, patterns.Bind(endpoint(t, tr))))
				spawn(t, b, actor.WithFeed(in), actor.WithMailbox(actor.DropOldest(1)))
				return dial(t, in.Endpoint()).Ref()
			})
		})
	}
}

// testDroppedRequest holds the first request in the actor, fills its mailbox
// of one with a second and has a third and a fourth push out the one before.
func testDroppedRequest(t *testing.T, serve func(actor.Behavior[actor.Request[int, int]]) actor.Ref[actor.Request[int, int]]) {
	ctx := testCtx(t)
	entered := make(chan struct{}, 4)
	release := make(chan struct{})
	ref := serve(actor.BehaviorFunc[actor.Request[int, int]](func(ctx context.Context, r actor.Request[int, int]) error {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
			return ctx.Err()
		}
		r.Reply(r.Query, nil)
		return nil
	}))
	errs := make(chan error, 4)
	ask := func(q int) { _, err := actor.Ask(ctx, ref, q); errs <- err }
	go ask(0)
	<-entered
	for q := 1; q <= 3; q++ {
		go ask(q)
	}
	for range 2 { // two of the three are dropped, whichever they are
		if err := <-errs; !errors.Is(err, actor.ErrDropped) || errors.Is(err, actor.ErrStopped) {
			t.Errorf("Ask of a request the mailbox dropped = %v, want ErrDropped", err)
		}
	}
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Errorf("Ask = %v", err)
		}
	}
}
