package actor_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/zmqflow/zmqflow/actor"
)

// orderedBatchFeed puts n values from base up in batches with PutAll, as a socket
// mailbox does: two of them on one actor must not share PutAll's scratch.
type orderedBatchFeed struct {
	base, n int
	closed  int
}

func (f *orderedBatchFeed) Run(ctx context.Context, in actor.Inlet[int]) error {
	batch := make([]int, 0, 7)
	for i := range f.n {
		batch = append(batch, f.base+i)
		if len(batch) == cap(batch) || i == f.n-1 {
			if err := in.PutAll(batch); err != nil {
				return nil
			}
			batch = batch[:0]
		}
	}
	<-ctx.Done()
	return nil
}

func (f *orderedBatchFeed) Close() error { f.closed++; return nil }

// An actor with several feeds and a clock gets everything each feed puts,
// in each feed's order, and the ticks; each feed is closed once.
func TestSeveralFeeds(t *testing.T) {
	const n = 5000
	var (
		mu    sync.Mutex
		last  = map[int]int{0: -1, 1: -1}
		count = map[int]int{}
		ticks int
		all   = make(chan struct{})
	)
	b := actor.BehaviorFunc[int](func(ctx context.Context, m int) error {
		mu.Lock()
		defer mu.Unlock()
		if m < 0 {
			ticks++
		} else {
			src, i := m/n, m%n
			if i != last[src]+1 {
				t.Errorf("feed %d: %d after %d", src, i, last[src])
			}
			last[src] = i
			count[src]++
		}
		if count[0] == n && count[1] == n && ticks >= 2 {
			select {
			case <-all:
			default:
				close(all)
			}
		}
		return nil
	})
	f0, f1 := &orderedBatchFeed{base: 0, n: n}, &orderedBatchFeed{base: n, n: n}
	a, err := actor.Spawn(ctx, b, actor.WithFeed[int](f0), actor.WithFeed[int](f1),
		actor.WithFeed(actor.Ticker(time.Millisecond, func(time.Time) int { return -1 })),
		actor.WithMailbox(actor.Bounded(16)))
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-all:
	case <-time.After(wait):
		t.Fatalf("not all delivered: %v, %d ticks", count, ticks)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if f0.closed != 1 || f1.closed != 1 {
		t.Errorf("feeds closed %d and %d times, want 1", f0.closed, f1.closed)
	}
}

// One feed failing fails the actor; the others are stopped and closed.
func TestOneOfSeveralFeedsFails(t *testing.T) {
	bad, good := newChanFeed(1), newChanFeed(1)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
		actor.WithFeed[int](bad), actor.WithFeed[int](good))
	if err != nil {
		t.Fatal(err)
	}
	close(bad.src)
	select {
	case <-a.Done():
	case <-time.After(wait):
		t.Fatal("actor did not end after a feed failed")
	}
	if !errors.Is(a.Err(), errSourceGone) {
		t.Errorf("Err = %v, want the feed's error", a.Err())
	}
	if bad.closed.Load() != 1 || good.closed.Load() != 1 {
		t.Errorf("feeds closed %d and %d times, want 1", bad.closed.Load(), good.closed.Load())
	}
}

// A ticker with no interval fails the actor with ErrBadOption.
func TestTickerBadInterval(t *testing.T) {
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error { return nil }),
		actor.WithFeed(actor.Ticker(0, func(time.Time) int { return 0 })))
	if err != nil {
		t.Fatal(err)
	}
	<-a.Done()
	if !errors.Is(a.Err(), actor.ErrBadOption) {
		t.Errorf("Err = %v, want ErrBadOption", a.Err())
	}
}

// releaseFeed is a feed that receives nothing and says when it is released.
type releaseFeed struct{ released chan struct{} }

func (f *releaseFeed) Run(ctx context.Context, _ actor.Inlet[int]) error {
	<-ctx.Done()
	return nil
}

func (f *releaseFeed) Close() error { close(f.released); return nil }

// A Close from another goroutine reports what was in the mailbox before
// the actor's end releases its feeds: a dead letter may need them (a
// request's refusal goes out through a socket mailbox). Here the observer
// holds the first of those dead letters, and lets the held message go: the
// actor ends meanwhile, and must not release its feed before the observer
// has returned.
func TestCloseReportsTheMailboxBeforeReleasingFeeds(t *testing.T) {
	feed := &releaseFeed{released: make(chan struct{})}
	open, holding := make(chan struct{}), make(chan struct{})
	var early atomic.Bool
	var once sync.Once
	obs := deadLetterFunc(func(actor.DeadLetter) {
		once.Do(func() {
			close(open) // the actor may end now
			// The feed's release, if it comes now, comes too early. It
			// never comes while this waits, so the wait is bounded: a
			// second is ample for the actor's end, which runs at once.
			select {
			case <-feed.released:
				early.Store(true)
			case <-time.After(time.Second):
			}
		})
	})
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[int](func(context.Context, int) error {
		select {
		case <-holding:
		default:
			close(holding)
			<-open
		}
		return nil
	}), actor.WithFeed[int](feed), actor.WithObserver(obs))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := a.Tell(ctx, i); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			<-holding // the others wait in the mailbox
		}
	}
	a.Close()
	if early.Load() {
		t.Fatal("the feed was released while a concurrent Close still reported the mailbox's dead letters")
	}
}

// deadLetterFunc is an observer that hands each dead letter to f.
type deadLetterFunc func(actor.DeadLetter)

func (f deadLetterFunc) DeadLetter(d actor.DeadLetter)                            { f(d) }
func (deadLetterFunc) ActorStarted(string)                                        {}
func (deadLetterFunc) ActorFailed(string, error)                                  {}
func (deadLetterFunc) ActorRestarted(string, int, error)                          {}
func (deadLetterFunc) ActorStopped(string, error)                                 {}
func (deadLetterFunc) MessageHandled(string, time.Duration, time.Duration, error) {}
