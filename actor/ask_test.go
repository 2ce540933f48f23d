package actor_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
)

type doubleReq = actor.Request[int, int]

func spawnDoubler(t *testing.T, opts ...actor.Option) *actor.Actor[doubleReq] {
	t.Helper()
	errOdd := errors.New("odd")
	a, err := actor.Spawn[doubleReq](ctx, actor.BehaviorFunc[doubleReq](func(ctx context.Context, r doubleReq) error {
		switch {
		case r.Query < 0:
			panic("negative")
		case r.Query%2 == 1:
			r.Reply(0, fmt.Errorf("%d: %w", r.Query, errOdd))
		default:
			r.Reply(2*r.Query, nil)
		}
		return nil
	}), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func TestAskReplies(t *testing.T) {
	a := spawnDoubler(t)
	got, err := actor.Ask(ctx, a.Ref(), 21*2)
	if err != nil || got != 84 {
		t.Fatalf("Ask = %d, %v", got, err)
	}
	if _, err := actor.Ask(ctx, a.Ref(), 3); err == nil || err.Error() != "3: odd" {
		t.Fatalf("Ask for an error reply = %v", err) // returned as the actor made it
	}
}

// An observer that times every message sees each request that an Ask hands
// to an idle actor, as it sees a message told.
func TestAskObserved(t *testing.T) {
	rec := actortest.NewRecorder()
	a := spawnDoubler(t, actor.WithName("observed"), actor.WithObserver(rec))
	const asks = 20
	for i := range asks {
		if got, err := actor.Ask(ctx, a.Ref(), 2*i); err != nil || got != 4*i {
			t.Fatalf("Ask(%d) = %d, %v", 2*i, got, err)
		}
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := rec.Count(actortest.Handled, "observed"); n != asks {
		t.Fatalf("the observer saw %d requests handled, want %d", n, asks)
	}
}

// An Ask allocates nothing once the actor's reply slots are made, whether
// its request is handed to the idle actor or queued behind others.
func TestAskAllocatesNothing(t *testing.T) {
	a := spawnDoubler(t)
	ref := a.Ref()
	ask := func() {
		if got, err := actor.Ask(ctx, ref, 2); err != nil || got != 4 {
			t.Fatalf("Ask = %d, %v", got, err)
		}
	}
	// The race detector's pool drops a quarter of the slots given back,
	// and each is made again: a slot and its channel, half an
	// allocation per Ask on average.
	var most float64
	if raceEnabled {
		most = 1
	}
	if n := testing.AllocsPerRun(1000, ask); n > most {
		t.Errorf("one Ask allocates %.2f times, want at most %v", n, most)
	}
	// Queued: a second asker keeps the mailbox busy.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				actor.Ask(ctx, ref, 2)
			}
		}
	})
	n := testing.AllocsPerRun(1000, ask)
	close(stop)
	wg.Wait()
	if n > most {
		t.Errorf("one Ask beside another asker allocates %.2f times, want at most %v", n, most)
	}
}

func TestAskTimeoutIsDeliveredNoReply(t *testing.T) {
	var kept []doubleReq // never replied to
	a, _ := actor.Spawn[doubleReq](ctx, actor.BehaviorFunc[doubleReq](func(ctx context.Context, r doubleReq) error {
		kept = append(kept, r)
		return nil
	}), actor.WithName("silent"))
	defer a.Close()
	actx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	_, err := actor.Ask(actx, a.Ref(), 1)
	if !errors.Is(err, actor.ErrAskTimeout) || !errors.Is(err, context.DeadlineExceeded) || errors.Is(err, actor.ErrStopped) {
		t.Fatalf("Ask = %v; want ErrAskTimeout wrapping the deadline", err)
	}
	if !strings.Contains(err.Error(), "delivered") || !strings.Contains(err.Error(), `"silent"`) {
		t.Fatalf("error %q does not say delivered, or whom", err)
	}
}

func TestAskStoppedIsNotDelivered(t *testing.T) {
	a := spawnDoubler(t)
	a.Close()
	_, err := actor.Ask(ctx, a.Ref(), 1)
	if !errors.Is(err, actor.ErrStopped) || errors.Is(err, actor.ErrAskTimeout) || !strings.Contains(err.Error(), "not delivered") {
		t.Fatalf("Ask to a closed actor = %v", err)
	}
}

func TestAskPendingWhenActorCloses(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	a, _ := actor.Spawn[doubleReq](ctx, actor.BehaviorFunc[doubleReq](func(ctx context.Context, r doubleReq) error {
		entered <- struct{}{}
		select {
		case <-release:
		case <-ctx.Done():
		}
		return nil
	}))
	go actor.Ask(ctx, a.Ref(), 0) // occupies the actor
	recv(t, "first request", entered)
	res := make(chan error, 1)
	go func() { _, err := actor.Ask(ctx, a.Ref(), 2); res <- err }()
	awaitCond(t, "second request queued", func() bool { return a.Stats().Queued == 2 })
	a.Close()
	// No deadline on ctx: the asker learns at once that its request died.
	err := recv(t, "Ask", res)
	if !errors.Is(err, actor.ErrStopped) || errors.Is(err, actor.ErrAskTimeout) || !strings.Contains(err.Error(), "never handled") {
		t.Fatalf("Ask with its request left in the mailbox = %v", err)
	}
}

func TestAskFailureIsNoReply(t *testing.T) {
	a := spawnDoubler(t)
	_, err := actor.Ask(ctx, a.Ref(), -1)
	var pe *actor.PanicError
	if !errors.Is(err, actor.ErrNoReply) || !errors.As(err, &pe) {
		t.Fatalf("Ask that panicked the actor = %v", err)
	}
}

func TestAskDroppedIsReported(t *testing.T) {
	entered, release := make(chan struct{}, 1), make(chan struct{})
	a, _ := actor.Spawn[doubleReq](ctx, actor.BehaviorFunc[doubleReq](func(ctx context.Context, r doubleReq) error {
		entered <- struct{}{}
		<-release
		r.Reply(r.Query, nil)
		return nil
	}), actor.WithMailbox(actor.DropNewest(1)))
	defer a.Close()
	first := make(chan error, 1)
	go func() { _, err := actor.Ask(ctx, a.Ref(), 0); first <- err }()
	recv(t, "first request", entered)
	second := make(chan error, 1)
	go func() { _, err := actor.Ask(ctx, a.Ref(), 1); second <- err }()
	awaitCond(t, "second request queued", func() bool { return a.Stats().Queued == 1 })
	_, err := actor.Ask(ctx, a.Ref(), 2) // no room: dropped
	if !errors.Is(err, actor.ErrDropped) {
		t.Fatalf("Ask dropped by the mailbox = %v", err)
	}
	close(release)
	if err := recv(t, "first", first); err != nil {
		t.Fatal(err)
	}
	if err := recv(t, "second", second); err != nil {
		t.Fatal(err)
	}
}

// A union-typed actor answers requests as one kind of message among others.
type counterMsg interface{}

type incr struct{}

type get = actor.Request[struct{}, int]

func TestAskWith(t *testing.T) {
	n := 0
	a, _ := actor.Spawn[counterMsg](ctx, actor.BehaviorFunc[counterMsg](func(ctx context.Context, m counterMsg) error {
		switch m := m.(type) {
		case incr:
			n++
		case get:
			m.Reply(n, nil)
		}
		return nil
	}))
	defer a.Close()
	for range 3 {
		a.Tell(ctx, incr{})
	}
	got, err := actor.AskWith(ctx, a.Ref(), struct{}{}, func(r get) counterMsg { return r })
	if err != nil || got != 3 {
		t.Fatalf("AskWith = %d, %v", got, err)
	}
}

// askWay is a way to ask an actor: asker returns what one goroutine calls
// for each request.
type askWay[Q, R any] struct {
	name  string
	asker func(actor.Ref[actor.Request[Q, R]]) func(context.Context, Q) (R, error)
}

// askWays are Ask, whose requests take reply slots from the actor's pool,
// and an Asker's Ask, whose requests all use the Asker's one slot: both
// reuse slots, and keep the same promises.
func askWays[Q, R any]() []askWay[Q, R] {
	return []askWay[Q, R]{
		{"Ask", func(ref actor.Ref[actor.Request[Q, R]]) func(context.Context, Q) (R, error) {
			return func(ctx context.Context, q Q) (R, error) { return actor.Ask(ctx, ref, q) }
		}},
		{"Asker", func(ref actor.Ref[actor.Request[Q, R]]) func(context.Context, Q) (R, error) {
			return actor.NewAsker(ref).Ask
		}},
	}
}

// Asks reuse reply slots: a Request kept after its Ask ended cannot reply
// into a later Ask.
func TestAskStaleRequestCannotReplyLater(t *testing.T) {
	for _, way := range askWays[int, int]() {
		t.Run(way.name, func(t *testing.T) { testStaleRequest(t, way) })
	}
}

func testStaleRequest(t *testing.T, way askWay[int, int]) {
	kept := make(chan actor.Request[int, int], 10)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[actor.Request[int, int]](func(_ context.Context, r actor.Request[int, int]) error {
		kept <- r
		if r.Query != 2 {
			r.Reply(r.Query*10, nil)
		}
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	// One goroutine asks at a time: an Asker's two requests share its
	// slot, and 100 rounds are enough for the pool to hand Ask's back.
	ask := way.asker(a.Ref())
	for i := range 100 {
		if got, err := ask(ctx, 1); err != nil || got != 10 {
			t.Fatalf("Ask %d = %d, %v", i, got, err)
		}
		old := <-kept
		res := make(chan int, 1)
		go func() {
			c, cancel := context.WithTimeout(ctx, wait)
			defer cancel()
			got, _ := ask(c, 2) // held by the actor: no reply
			res <- got
		}()
		held := <-kept
		if old.Reply(99, nil) {
			t.Fatal("a stale Request's Reply counted")
		}
		held.Reply(20, nil)
		if got := <-res; got != 20 {
			t.Fatalf("the second Ask got %d, want 20 (the stale reply reached it?)", got)
		}
	}
}

// slotQuery is the query of TestAskSlotsNeverCrossAsks: an Ask with cancel
// set is one the actor holds, cancels and answers after its asker gave up
// (gaveUp).
type slotQuery struct {
	n      int
	cancel context.CancelFunc
	gaveUp *atomic.Bool
}

// Ask's reply slots are reused: under many concurrent askers, each Ask gets
// its own reply and no other, however the replies to earlier requests come:
// a second Reply to a request already answered never counts (whether its
// slot went on to another Ask or not), and a reply made after its Ask gave
// up reaches nobody.
func TestAskSlotsNeverCrossAsks(t *testing.T) {
	for _, way := range askWays[slotQuery, int]() {
		t.Run(way.name, func(t *testing.T) { testSlotsNeverCross(t, way) })
	}
}

func testSlotsNeverCross(t *testing.T, way askWay[slotQuery, int]) {
	type req = actor.Request[slotQuery, int]
	var staleCounted atomic.Int32
	var held, answered []req // the actor's goroutine's
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[req](func(_ context.Context, r req) error {
		keep := held[:0]
		for _, h := range held {
			if h.Query.gaveUp.Load() {
				h.Reply(-2, nil) // late: its Ask has returned
			} else {
				keep = append(keep, h)
			}
		}
		held = keep
		for _, s := range answered {
			if s.Reply(-1, nil) {
				staleCounted.Add(1)
			}
		}
		if len(answered) > 16 {
			answered = append(answered[:0], answered[8:]...)
		}
		if r.Query.cancel != nil {
			r.Query.cancel() // its Ask ends without a reply
			held = append(held, r)
			return nil
		}
		r.Reply(2*r.Query.n, nil)
		answered = append(answered, r)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	const askers, asks = 8, 300
	var wg sync.WaitGroup
	errs := make(chan error, askers)
	for g := range askers {
		wg.Go(func() {
			ask := way.asker(a.Ref())
			for i := range asks {
				q := slotQuery{n: g*asks + i}
				c, cancel := context.WithTimeout(ctx, wait)
				if i%5 == 4 {
					q.cancel, q.gaveUp = cancel, new(atomic.Bool)
				}
				got, err := ask(c, q)
				cancel()
				switch {
				case q.cancel != nil:
					q.gaveUp.Store(true)
					if !errors.Is(err, actor.ErrAskTimeout) {
						errs <- fmt.Errorf("held Ask %d = %d, %v; want ErrAskTimeout", q.n, got, err)
						return
					}
				case err != nil || got != 2*q.n:
					errs <- fmt.Errorf("Ask %d = %d, %v; want %d", q.n, got, err, 2*q.n)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := staleCounted.Load(); n != 0 {
		t.Errorf("%d second replies counted", n)
	}
}
