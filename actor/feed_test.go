package actor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
	"github.com/zmqflow/zmqflow/actor/actortest"
)

// chanFeed is a Feed over a Go channel: what a socket is to a mailbox, without
// the socket. Closing src ends Run with errSourceGone.
type chanFeed struct {
	src    chan int
	bad    chan string // arrives undecodable: a dead letter
	closed atomic.Int32
	puts   atomic.Int64
}

var errSourceGone = errors.New("source gone")

func newChanFeed(n int) *chanFeed {
	return &chanFeed{src: make(chan int, n), bad: make(chan string, 10)}
}

func (f *chanFeed) Run(ctx context.Context, in actor.Inlet[int]) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case b := <-f.bad:
			in.DeadLetter(b, errors.New("does not decode"))
		case m, ok := <-f.src:
			if !ok {
				return errSourceGone
			}
			if err := in.Put(m); err != nil {
				return nil
			}
			f.puts.Add(1)
		}
	}
}

func (f *chanFeed) Close() error { f.closed.Add(1); return nil }

func TestFeedDeliversAndStops(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	rec := actortest.NewRecorder()
	f := newChanFeed(10)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
		return probe.Ref().Tell(ctx, m)
	}), actor.WithFeed[int](f), actor.WithObserver(rec), actor.WithName("fed"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		f.src <- i
	}
	// A message told through the Ref and one that came through the feed are
	// the same to the behaviour.
	if err := a.Tell(ctx, 100); err != nil {
		t.Fatal(err)
	}
	got := map[int]bool{}
	for range 6 {
		got[probe.Expect(t, wait)] = true
	}
	for _, want := range []int{0, 1, 2, 3, 4, 100} {
		if !got[want] {
			t.Errorf("message %d not handled; got %v", want, got)
		}
	}
	f.bad <- "garbage"
	d := rec.Await(t, actortest.DeadLetter, "fed", wait)
	if d.Message != "garbage" {
		t.Errorf("dead letter %v, want the undecodable input", d)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.closed.Load(); n != 1 {
		t.Errorf("feed closed %d times, want 1", n)
	}
}

func TestFeedBackpressure(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	g := newGate(probe.Ref())
	f := newChanFeed(100)
	a, err := actor.Spawn(ctx, g, actor.WithFeed[int](f), actor.WithMailbox(actor.Bounded(4)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for i := range 20 {
		f.src <- i
	}
	<-g.entered
	// One in hand and three queued fill the mailbox of four: the feed waits
	// in Put with the fifth, and the rest stay at the source, as a socket's
	// queue fills to its high-water mark and pushes back on its peers.
	deadline := time.Now().Add(wait)
	for f.puts.Load() < 4 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // a feed that did not block would go on
	if got, puts := len(f.src), f.puts.Load(); got != 15 || puts != 4 {
		t.Errorf("%d put and %d left at the source, want 4 and 15: the feed must block on the full mailbox", puts, got)
	}
	close(g.release)
	for i := range 20 {
		probe.ExpectMsg(t, i, wait)
	}
}

// A supervised child with a feed that panics is restarted; the feed, and
// every message queued in it and in the mailbox, survives.
func TestFeedSurvivesRestart(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	f := newChanFeed(1000)
	var incarnations atomic.Int32
	ch := actor.NewChild("worker", func() actor.Behavior[int] {
		incarnations.Add(1)
		return actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
			if m%100 == 50 {
				panic(fmt.Sprintf("poison %d", m))
			}
			return probe.Ref().Tell(ctx, m)
		})
	}, actor.WithMailbox(actor.Bounded(8)), actor.WithFeed[int](f))
	sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{ch},
		actor.WithBackoff(0, 0), actor.WithIntensity(100, time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 1000 {
		f.src <- i
	}
	seen := map[int]bool{}
	for len(seen) < 990 {
		seen[probe.Expect(t, wait)] = true
	}
	for i := range 1000 {
		if !seen[i] && i%100 != 50 {
			t.Fatalf("message %d lost across restarts", i)
		}
	}
	if n := incarnations.Load(); n != 11 {
		t.Errorf("%d incarnations, want 11 (ten poison messages)", n)
	}
	if err := sup.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := f.closed.Load(); n != 1 {
		t.Errorf("feed closed %d times, want 1", n)
	}
}

func TestFeedFailureFailsActor(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	f := newChanFeed(10)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
		return probe.Ref().Tell(ctx, m)
	}), actor.WithFeed[int](f))
	if err != nil {
		t.Fatal(err)
	}
	f.src <- 1
	f.src <- 2
	close(f.src)
	select {
	case <-a.Done():
	case <-time.After(wait):
		t.Fatal("actor did not end after its feed failed")
	}
	if !errors.Is(a.Err(), errSourceGone) {
		t.Errorf("Err = %v, want the feed's error", a.Err())
	}
	// What came in before the failure was handled.
	probe.ExpectMsg(t, 1, wait)
	probe.ExpectMsg(t, 2, wait)
	if n := f.closed.Load(); n != 1 {
		t.Errorf("feed closed %d times, want 1", n)
	}
}

func TestFeedWrongType(t *testing.T) {
	_, err := actor.Spawn(ctx, actor.BehaviorFunc[string](func(context.Context, string) error { return nil }),
		actor.WithFeed[int](newChanFeed(1)))
	if !errors.Is(err, actor.ErrBadOption) {
		t.Fatalf("err = %v, want ErrBadOption", err)
	}
}

// fakeRemote is a Remote that answers Requests in another goroutine, out of
// order: what patterns' DEALER reference does with a ROUTER actor.
type fakeRemote struct {
	mu     sync.Mutex
	told   []actor.Request[int, int]
	closed bool
}

func (r *fakeRemote) Tell(ctx context.Context, m actor.Request[int, int]) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return actor.ErrStopped
	}
	r.told = append(r.told, m)
	if len(r.told) == 3 { // answer in reverse order
		for i := len(r.told) - 1; i >= 0; i-- {
			req := r.told[i]
			go req.Reply(req.Query*req.Query, nil)
		}
		r.told = nil
	}
	return nil
}
func (r *fakeRemote) TryTell(m actor.Request[int, int]) error { return r.Tell(context.Background(), m) }
func (r *fakeRemote) Name() string                            { return "remote squarer" }
func (r *fakeRemote) Stats() actor.Stats                      { return actor.Stats{} }

func TestRemoteRefAsk(t *testing.T) {
	ref := actor.RefTo[actor.Request[int, int]](&fakeRemote{})
	if !ref.IsRemote() || ref.Name() != "remote squarer" {
		t.Fatalf("ref %v: IsRemote %v, Name %q", ref, ref.IsRemote(), ref.Name())
	}
	var wg sync.WaitGroup
	for i := 1; i <= 3; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, cancel := context.WithTimeout(ctx, wait)
			defer cancel()
			got, err := actor.Ask(c, ref, i)
			if err != nil || got != i*i {
				t.Errorf("Ask(%d) = %d, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
	if err := actor.RefTo[int](nil).Tell(ctx, 1); !errors.Is(err, actor.ErrStopped) {
		t.Errorf("RefTo(nil).Tell = %v, want ErrStopped", err)
	}
}

func TestNewRequestAbandoned(t *testing.T) {
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[actor.Request[int, int]](func(ctx context.Context, r actor.Request[int, int]) error {
		if r.Query < 0 {
			return errors.New("negative")
		}
		r.Reply(r.Query+1, nil)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		v   int
		err error
	}
	got := make(chan result, 2)
	reply := func(v int, err error) { got <- result{v, err} }
	if err := a.Tell(ctx, actor.NewRequest(41, reply)); err != nil {
		t.Fatal(err)
	}
	if r := <-got; r.v != 42 || r.err != nil {
		t.Errorf("reply %+v, want 42", r)
	}
	if err := a.Tell(ctx, actor.NewRequest(-1, reply)); err != nil {
		t.Fatal(err)
	}
	if r := <-got; !errors.Is(r.err, actor.ErrNoReply) {
		t.Errorf("failed request: reply %+v, want ErrNoReply", r)
	}
	<-a.Done()
	// Told to a stopped actor: the reply function hears of it at once.
	a.Tell(ctx, actor.NewRequest(1, reply))
	if r := <-got; !errors.Is(r.err, actor.ErrStopped) {
		t.Errorf("request to a stopped actor: reply %+v, want ErrStopped", r)
	}
}

// batchFeed puts its messages in batches of ten with PutAll.
type batchFeed struct{ n int }

func (f *batchFeed) Run(ctx context.Context, in actor.Inlet[int]) error {
	batch := make([]int, 0, 10)
	for i := range f.n {
		if batch = append(batch, i); len(batch) == cap(batch) || i == f.n-1 {
			if err := in.PutAll(batch); err != nil {
				return nil
			}
			batch = batch[:0]
		}
	}
	<-ctx.Done()
	return nil
}

func (f *batchFeed) Close() error { return nil }

// PutAll fills a mailbox smaller than the batch, waiting for room, and loses
// nothing; what it cannot put when the actor closes is a dead letter.
func TestFeedPutAll(t *testing.T) {
	probe := actortest.NewProbe[int](t)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
		return probe.Ref().Tell(ctx, m)
	}), actor.WithFeed[int](&batchFeed{n: 95}), actor.WithMailbox(actor.Bounded(4)))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 95 {
		probe.ExpectMsg(t, i, wait)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}

	rec := actortest.NewRecorder()
	g := newGate(actortest.NewProbe[int](t).Ref())
	b, err := actor.Spawn(ctx, g, actor.WithFeed[int](&batchFeed{n: 10}), actor.WithMailbox(actor.Bounded(4)),
		actor.WithObserver(rec), actor.WithName("held"))
	if err != nil {
		t.Fatal(err)
	}
	<-g.entered // one in hand, three queued, six waiting in PutAll
	b.Close()
	deadline := time.Now().Add(wait)
	for rec.Count(actortest.DeadLetter, "held") < 9 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if n := rec.Count(actortest.DeadLetter, "held"); n != 9 {
		t.Errorf("%d dead letters, want 9 (3 queued, 6 never put)", n)
	}
}

// A Spawn or Supervise that refuses its options releases the feeds it was
// given (their makers handed them over), but not those of a child that
// another supervisor runs.
func TestRefusedOptionsReleaseFeeds(t *testing.T) {
	ctx := context.Background()
	nop := func() actor.Behavior[int] {
		return actor.BehaviorFunc[int](func(context.Context, int) error { return nil })
	}

	f := newChanFeed(1)
	if _, err := actor.Spawn(ctx, nop(), actor.WithFeed[int](f), actor.WithIntensity(1, time.Second)); !errors.Is(err, actor.ErrBadOption) {
		t.Fatalf("Spawn with a supervisor's option: %v, want ErrBadOption", err)
	}
	if n := f.closed.Load(); n != 1 {
		t.Errorf("a refused Spawn closed its feed %d times, want 1", n)
	}

	// Supervise: a good child, one refused (its own option), one after it,
	// and one another supervisor runs.
	fRunning := newChanFeed(1)
	running := actor.NewChild("running", nop, actor.WithFeed[int](fRunning))
	other, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{running})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	fGood, fBad, fAfter := newChanFeed(1), newChanFeed(1), newChanFeed(1)
	_, err = actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{
		actor.NewChild("good", nop, actor.WithFeed[int](fGood)),
		actor.NewChild("bad", nop, actor.WithFeed[int](fBad), actor.WithIntensity(1, time.Second)),
		actor.NewChild("after", nop, actor.WithFeed[int](fAfter)),
	})
	if !errors.Is(err, actor.ErrBadOption) {
		t.Fatalf("Supervise with a child's bad option: %v, want ErrBadOption", err)
	}
	for name, f := range map[string]*chanFeed{"good": fGood, "bad": fBad, "after": fAfter} {
		if n := f.closed.Load(); n != 1 {
			t.Errorf("the failed Supervise closed child %q's feed %d times, want 1", name, n)
		}
	}
	fShared := newChanFeed(1)
	_, err = actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{
		actor.NewChild("fresh", nop, actor.WithFeed[int](fShared)),
		running, // supervised already: refused
	})
	if !errors.Is(err, actor.ErrBadOption) {
		t.Fatalf("Supervise of a child supervised elsewhere: %v, want ErrBadOption", err)
	}
	if n := fRunning.closed.Load(); n != 0 {
		t.Errorf("the failed Supervise closed the feed of a child supervised elsewhere")
	}
	if n := fShared.closed.Load(); n != 1 {
		t.Errorf("the failed Supervise closed its other child's feed %d times, want 1", n)
	}
}

// putFeed puts until a Put fails, and hands over that error.
type putFeed struct{ err chan error }

func (f *putFeed) Run(_ context.Context, in actor.Inlet[int]) error {
	for i := 0; ; i++ {
		if err := in.Put(i); err != nil {
			f.err <- err
			return nil
		}
	}
}

func (f *putFeed) Close() error { return nil }

// quietPutFeed puts numbers until its ctx ends, as a feed should, counting
// what it put; quiet is closed when its ctx ends.
type quietPutFeed struct {
	err   chan error
	put   atomic.Int64
	quiet chan struct{}
}

func (f *quietPutFeed) Run(ctx context.Context, in actor.Inlet[int]) error {
	context.AfterFunc(ctx, func() { close(f.quiet) })
	for i := 0; ctx.Err() == nil; i++ {
		if err := in.Put(i); err != nil {
			f.err <- err
			return nil
		}
		f.put.Add(1)
	}
	f.err <- nil
	return nil
}

func (f *quietPutFeed) Close() error { return nil }

// A Put waiting for room when the actor is closed returns an error
// wrapping ErrStopped, as PutAll does.
func TestPutStoppedWhileWaiting(t *testing.T) {
	ctx := context.Background()
	gate, holding := make(chan struct{}), make(chan struct{}, 1)
	f := &putFeed{err: make(chan error, 1)}
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error {
		select {
		case holding <- struct{}{}:
		default:
		}
		<-gate
		return nil
	}), actor.WithFeed[int](f), actor.WithMailbox(actor.Bounded(1)))
	if err != nil {
		t.Fatal(err)
	}
	<-holding // the actor holds one message, the feed waits to put more
	closed := make(chan error, 1)
	go func() { closed <- a.Close() }()
	select {
	case err = <-f.err:
	case <-time.After(20 * time.Second):
		t.Fatal("Put did not return when the actor was closed")
	}
	if !errors.Is(err, actor.ErrStopped) {
		t.Errorf("Put closed while waiting for room: %v, want an error wrapping ErrStopped", err)
	}
	close(gate)
	if err := <-closed; err != nil {
		t.Fatal(err)
	}
}

// A Put waiting for room when Stop quiets its feed still puts its message
// once the actor makes room, and the actor handles it in its drain: what a
// feed took is not lost to Stop.
func TestPutQuietedWhileWaitingDelivers(t *testing.T) {
	ctx := context.Background()
	gate, holding := make(chan struct{}), make(chan struct{}, 1)
	var handled atomic.Int64
	f := &quietPutFeed{err: make(chan error, 1), quiet: make(chan struct{})}
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error {
		select {
		case holding <- struct{}{}:
			<-gate
		default:
		}
		handled.Add(1)
		return nil
	}), actor.WithFeed[int](f), actor.WithMailbox(actor.Bounded(1)))
	if err != nil {
		t.Fatal(err)
	}
	<-holding // the actor holds one message, one waits in the mailbox, the feed waits to put a third
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(ctx) }()
	select {
	case <-f.quiet:
	case <-time.After(20 * time.Second):
		t.Fatal("Stop did not quiet the feed")
	}
	close(gate)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if err := <-f.err; err != nil {
		t.Fatalf("Put quieted while waiting for room: %v, want it to put its message", err)
	}
	if n := handled.Load(); n != f.put.Load() {
		t.Fatalf("the actor handled %d messages, the feed put %d", n, f.put.Load())
	}
}

// drainedFeed is a polled feed like a socket mailbox whose drain is used up:
// once Stop cancelled its ctx its source is ready, but Poll gives nothing.
type drainedFeed struct {
	ctx   context.Context
	polls atomic.Int64
}

func (f *drainedFeed) Run(ctx context.Context, _ actor.Inlet[int]) error { <-ctx.Done(); return nil }
func (f *drainedFeed) Close() error                                      { return nil }
func (f *drainedFeed) Attach(ctx context.Context, _ actor.Inlet[int]) (bool, error) {
	f.ctx = ctx
	return true, nil
}

func (f *drainedFeed) Ready() <-chan struct{} {
	if f.ctx.Err() != nil {
		return closedChan
	}
	return nil
}

func (f *drainedFeed) Poll(_ actor.Inlet[int], dst []int, _ int) ([]int, error) {
	f.polls.Add(1)
	return dst, nil
}

var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

// slowStopFeed is a run feed that returns only when released after its ctx
// ended.
type slowStopFeed struct{ quieted, release chan struct{} }

func (f *slowStopFeed) Run(ctx context.Context, _ actor.Inlet[int]) error {
	<-ctx.Done()
	close(f.quieted)
	<-f.release
	return nil
}
func (f *slowStopFeed) Close() error { return nil }

// While Stop waits for a run feed, the actor does not turn on a polled feed
// that Stop quieted (its source ready, nothing to poll): it waits for its
// mailbox.
func TestStopDoesNotSpinOnAQuietedFeed(t *testing.T) {
	ctx := context.Background()
	polled := &drainedFeed{}
	slow := &slowStopFeed{quieted: make(chan struct{}), release: make(chan struct{})}
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
		actor.WithFeed[int](polled), actor.WithFeed[int](slow))
	if err != nil {
		t.Fatal(err)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- a.Stop(ctx) }()
	<-slow.quieted
	// A window in which a spinning actor polls thousands of times, and a
	// waiting one not at all.
	deadline := time.Now().Add(100 * time.Millisecond)
	for time.Now().Before(deadline) && polled.polls.Load() < 1000 {
		time.Sleep(time.Millisecond)
	}
	n := polled.polls.Load()
	close(slow.release)
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
	if n >= 1000 {
		t.Fatalf("the actor polled its quieted feed %d times while Stop waited", n)
	}
}

// closedFeed is a feed that, once its ctx ends, waits for the mailbox to
// close (Inlet.Closed), as a feed waiting on the actor's answer would.
type closedFeed struct {
	running chan struct{} // closed once Run has its inlet
	open    atomic.Bool   // Closed's channel was open while the actor ran
}

func (f *closedFeed) Run(ctx context.Context, in actor.Inlet[int]) error {
	select {
	case <-in.Closed():
	default:
		f.open.Store(true)
	}
	close(f.running)
	<-ctx.Done()
	<-in.Closed()
	return nil
}

func (f *closedFeed) Close() error { return nil }

// Inlet.Closed is open while the actor runs and closed once the mailbox
// closes: a feed that waits on it past its ctx does not hold Stop beyond
// Stop's ctx, nor Close.
func TestInletClosed(t *testing.T) {
	for _, end := range []string{"Stop", "Close"} {
		t.Run(end, func(t *testing.T) {
			f := &closedFeed{running: make(chan struct{})}
			a, err := actor.Spawn(testCtx(t), actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
				actor.WithFeed[int](f))
			if err != nil {
				t.Fatal(err)
			}
			<-f.running
			if !f.open.Load() {
				t.Error("Closed's channel was closed while the actor ran")
			}
			ended := make(chan error, 1)
			go func() {
				if end == "Close" {
					ended <- a.Close()
					return
				}
				// The feed holds the drain until the mailbox closes:
				// Stop's ctx must end it.
				sctx, cancel := context.WithTimeout(testCtx(t), 50*time.Millisecond)
				defer cancel()
				ended <- a.Stop(sctx)
			}()
			select {
			case err := <-ended:
				// nil when the actor, with nothing to drain, ended as
				// Stop found its ctx over.
				if end == "Stop" && err != nil && !errors.Is(err, context.DeadlineExceeded) {
					t.Errorf("Stop: %v, want nil or its ctx's error", err)
				}
			case <-testCtx(t).Done():
				t.Fatalf("%s held by a feed waiting for the mailbox to close", end)
			}
		})
	}
}
