package actor_test

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

// Messages handed over to an idle actor, and its return to sleep without
// the lock, race a Bounded(1) mailbox's senders and the child's restarts:
// every message is received once, in its sender's order, and none is lost
// across a restart, whether it was handed over, in the ring, or in hand.
func TestHandOverRacesRestarts(t *testing.T) {
	const senders, per, failEvery = 4, 1500, 97
	type msg struct{ sender, seq int }
	var mu sync.Mutex
	got := make([][]int, senders) // the seqs each sender's messages came in
	child := actor.NewChild("flaky", func() actor.Behavior[msg] {
		return actor.BehaviorFunc[msg](func(_ context.Context, m msg) error {
			mu.Lock()
			got[m.sender] = append(got[m.sender], m.seq)
			mu.Unlock()
			if m.seq%failEvery == 0 {
				return errCrash // restarted; the message is not received again
			}
			return nil
		})
	}, actor.WithMailbox(actor.Bounded(1)))
	sup, err := actor.Supervise(ctx, actor.OneForOne, []actor.ChildSpec{child},
		actor.WithIntensity(1000, time.Minute), actor.WithBackoff(0, 0))
	if err != nil {
		t.Fatal(err)
	}
	defer sup.Close()
	ref := child.Ref()
	tellFromSenders(t, ref, senders, per, func(s, seq int) msg { return msg{s, seq} },
		func(s, seq int) bool { return s%2 == 0 && seq%3 == 0 })
	if err := sup.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	checkEachInOrder(t, got, per)
	if st := ref.Stats(); st.DeadLetters != 0 || st.Restarts == 0 {
		t.Fatalf("stats %+v: want no dead letters, some restarts", st)
	}
}

// tellFromSenders tells ref per messages from each of senders goroutines,
// msgOf(s, seq) for seq 1 to per, and returns when all are told. After a
// message for which idle(s, seq) holds, its sender waits for the mailbox to
// empty, so that the actor falls idle and the next message is handed over.
func tellFromSenders[M any](t *testing.T, ref actor.Ref[M], senders, per int, msgOf func(s, seq int) M, idle func(s, seq int) bool) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, senders)
	for s := range senders {
		wg.Go(func() {
			for seq := 1; seq <= per; seq++ {
				if err := ref.Tell(ctx, msgOf(s, seq)); err != nil {
					errs <- fmt.Errorf("sender %d: Tell %d: %w", s, seq, err)
					return
				}
				if !idle(s, seq) {
					continue
				}
				for deadline := time.Now().Add(wait); ref.Stats().Queued > 0; runtime.Gosched() {
					if time.Now().After(deadline) {
						errs <- fmt.Errorf("sender %d: the mailbox never emptied", s)
						return
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// checkEachInOrder checks that got[s], the seqs of sender s's messages in
// the order received, are 1 to per: none lost, repeated or out of order.
func checkEachInOrder(t *testing.T, got [][]int, per int) {
	t.Helper()
	for s, seqs := range got {
		if len(seqs) != per {
			t.Errorf("sender %d: %d messages received, want %d", s, len(seqs), per)
		}
		for i, seq := range seqs {
			if seq != i+1 {
				t.Fatalf("sender %d: message %d received as %d: lost, repeated or out of order", s, i+1, seq)
			}
		}
	}
}
