package actor_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/zmqflow/zmqflow/actor"
)

// An actor that is asked is idle between requests, so each request takes
// the path of a message told to an idle actor: its wake-up. These tests race
// that path with Close, with other senders' messages, and with an asker
// giving up.

// An Ask racing Close, to an actor that is idle: it gets its reply, or
// ErrStopped (not delivered, or delivered and never handled), never a
// timeout; and every request told is handled or a dead letter.
func TestAskRacesCloseOfIdleActor(t *testing.T) {
	for i := range 200 {
		a := spawnDoubler(t)
		const askers = 3
		var wg sync.WaitGroup
		var delivered atomic.Int64
		errs := make(chan error, askers)
		for g := range askers {
			wg.Go(func() {
				q := 2 * (i*askers + g)
				c, cancel := context.WithTimeout(ctx, wait)
				defer cancel()
				got, err := actor.Ask(c, a.Ref(), q)
				switch {
				case err == nil && got == 2*q:
					delivered.Add(1)
				case err == nil:
					errs <- fmt.Errorf("Ask %d = %d, want %d", q, got, 2*q)
				case !errors.Is(err, actor.ErrStopped) || errors.Is(err, actor.ErrAskTimeout):
					errs <- fmt.Errorf("Ask %d racing Close = %v; want a reply or ErrStopped", q, err)
				}
			})
		}
		a.Close()
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
		if st := a.Stats(); st.Handled != uint64(delivered.Load()) || st.Handled+st.DeadLetters != askers {
			t.Fatalf("round %d: stats %+v with %d replies; want every request handled or dead", i, st, delivered.Load())
		}
	}
}

// orderMsg is a message of TestTellOrderWithAsks: told (no request) or
// asked, numbered by its sender.
type orderMsg struct {
	actor.Request[int, int]
	sender, seq int
}

// Messages from one sender are handled in the order told, whether they are
// handed over to an idle actor or wait in its mailbox: here several senders
// mix Tells, which pile up, with Asks, after which the actor is idle.
func TestTellOrderWithAsks(t *testing.T) {
	const senders, per = 4, 2000
	var last [senders]int // the actor's goroutine's
	var disorder atomic.Int64
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[orderMsg](func(_ context.Context, m orderMsg) error {
		if m.seq != last[m.sender]+1 {
			disorder.Add(1)
		}
		last[m.sender] = m.seq
		m.Reply(m.seq, nil) // a told message's zero Request: no-op
		return nil
	}), actor.WithMailbox(actor.Bounded(64)))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Go(func() {
			for seq := 1; seq <= per; seq++ {
				if seq%7 != 0 {
					if err := a.Ref().Tell(ctx, orderMsg{sender: s, seq: seq}); err != nil {
						errs <- err
						return
					}
					continue
				}
				c, cancel := context.WithTimeout(ctx, wait)
				got, err := actor.AskWith(c, a.Ref(), 0, func(r actor.Request[int, int]) orderMsg {
					return orderMsg{r, s, seq}
				})
				cancel()
				if err != nil || got != seq {
					errs <- fmt.Errorf("sender %d: Ask %d = %d, %v", s, seq, got, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if err := a.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if n := disorder.Load(); n != 0 {
		t.Fatalf("%d messages out of their sender's order", n)
	}
	if st := a.Stats(); st.Handled != senders*per || st.DeadLetters != 0 {
		t.Fatalf("stats %+v; want %d handled, none dead", st, senders*per)
	}
}

// An Ask whose ctx is cancelled while it waits for the reply ends with
// ErrAskTimeout wrapping context.Canceled; the reply made after that reaches
// nobody, and the next Ask gets its own.
func TestAskCancelledWhileWaiting(t *testing.T) {
	type req = actor.Request[int, int]
	held := make(chan req, 1)
	a, err := actor.Spawn(ctx, actor.BehaviorFunc[req](func(_ context.Context, r req) error {
		if r.Query == 0 {
			held <- r // answered late, by the test
			return nil
		}
		r.Reply(2*r.Query, nil)
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	for i := 1; i <= 50; i++ {
		c, cancel := context.WithCancel(ctx)
		res := make(chan error, 1)
		go func() { _, err := actor.Ask(c, a.Ref(), 0); res <- err }()
		r := recv(t, "held request", held)
		cancel()
		if err := recv(t, "cancelled Ask", res); !errors.Is(err, actor.ErrAskTimeout) || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled Ask = %v; want ErrAskTimeout wrapping context.Canceled", err)
		}
		r.Reply(-1, nil) // late: harmless
		c2, cancel2 := context.WithTimeout(ctx, wait)
		got, err := actor.Ask(c2, a.Ref(), i)
		cancel2()
		if err != nil || got != 2*i {
			t.Fatalf("Ask %d after a cancelled one = %d, %v; want %d", i, got, err, 2*i)
		}
	}
}
