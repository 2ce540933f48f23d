package actor

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"testing"
)

// The mailbox's hand-over protocol (see queue) against a model, one step at
// a time in random order: senders tell, the receiver (played as the actor's
// loop plays it) wakes, handles, goes back to sleep with or without the
// lock, is halted and restarted, and the mailbox is closed at the end. Every
// message told is received once or is a dead letter, each sender's are
// received in order, a Bounded mailbox never holds more than its size, the
// handled count is exact, and a sleeping receiver has no message waiting
// and no wake-up pending (its sender would block). Profiled, the same,
// and the sample is exact: every other message put in the ring and every
// other handed over is stamped (a sampling period of 2), once.
func TestQueueProtocolModel(t *testing.T) {
	for _, profiled := range []bool{false, true} {
		for _, m := range []Mailbox{Bounded(1), Bounded(3), Unbounded(), DropOldest(2), DropNewest(2)} {
			for seed := range uint64(200) {
				t.Run(fmt.Sprintf("profiled=%v/%s/%d", profiled, m, seed), func(t *testing.T) { runQueueModel(t, m, seed, profiled) })
			}
		}
	}
}

// receiver states, as the loop goes through them
const (
	mTake    = iota // must take
	mAsleep         // took nothing, waits on wake
	mHanded         // handling a message handed over
	mStopped        // halted and retired; resumed next
)

func runQueueModel(t *testing.T, m Mailbox, seed uint64, profiled bool) {
	const senders = 3
	rng := rand.New(rand.NewPCG(seed, 7))
	q := newQueue[int](m)
	if profiled {
		q.sample = true
		q.sampleMask.Store(1)
	}
	stamped := 0 // messages received or dead with a stamp
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	var (
		next     [senders]int // the next seq each sender tells
		last     [senders]int // the last seq received from each
		told     = map[int]bool{}
		received = map[int]bool{}
		dead     = map[int]bool{}
		handled  uint64
		state    = mTake
	)
	msg := func(s, seq int) int { return seq*senders + s }
	receive := func(es []envelope[int]) {
		for _, e := range es {
			s, seq := e.msg%senders, e.msg/senders
			if received[e.msg] || dead[e.msg] {
				t.Fatalf("message %d of sender %d received twice", seq, s)
			}
			if seq <= last[s] {
				t.Fatalf("sender %d: message %d received after %d", s, seq, last[s])
			}
			received[e.msg], last[s] = true, seq
			if e.at != 0 {
				stamped++
			}
			q.pending++ // handled, as receiveAll counts
			handled++
		}
	}
	deadLetters := func(es []envelope[int]) {
		for _, e := range es {
			if received[e.msg] || dead[e.msg] {
				t.Fatalf("dead letter %d already received or dead", e.msg)
			}
			dead[e.msg] = true
			if e.at != 0 {
				stamped++
			}
		}
	}
	take := func() {
		batch, done := q.take(nil)
		if done {
			deadLetters(batch)
			deadLetters(q.retire())
			state = mStopped
			return
		}
		receive(batch)
		if len(batch) == 0 {
			state = mAsleep
		}
	}
	check := func(step int) {
		q.mu.Lock()
		held, asleep, pending, ring := q.held(), q.rs.Load()&rMask == rAsleep, len(q.wake), q.n
		q.mu.Unlock()
		if m.policy == policyBounded && held > m.size {
			t.Fatalf("step %d: the mailbox holds %d, over its %d", step, held, m.size)
		}
		if asleep && pending != 0 {
			t.Fatalf("step %d: a wake-up pending while the receiver sleeps", step)
		}
		if asleep && ring != 0 {
			t.Fatalf("step %d: the receiver sleeps on %d messages", step, ring)
		}
	}
	for step := range 600 {
		fails := state == mAsleep && rng.IntN(8) == 0
		switch r := rng.IntN(10); {
		case r < 1: // a feed puts a few, with PutAll (it does not wait for room)
			s, k := rng.IntN(senders), 1+rng.IntN(3)
			es := make([]envelope[int], k)
			for i := range es {
				es[i].msg = msg(s, next[s]+1+i)
			}
			n, dropped, err := q.pushAll(cancelled, es)
			if err != nil && !errors.Is(err, context.Canceled) {
				t.Fatalf("step %d: pushAll: %v", step, err)
			}
			for _, e := range es[:n] {
				told[e.msg] = true
			}
			deadLetters(dropped)
			next[s] += n
		case r < 5: // a sender tells
			s := rng.IntN(senders)
			next[s]++
			id := msg(s, next[s])
			victim, dropped, err := q.push(context.Background(), envelope[int]{msg: id}, false)
			switch {
			case err == nil:
				told[id] = true
				if dropped {
					deadLetters([]envelope[int]{victim})
				}
			case errors.Is(err, ErrMailboxFull):
			default:
				t.Fatalf("step %d: push: %v", step, err)
			}
		case r < 8 && fails:
			// It handled what a polled feed had, its mailbox asleep,
			// and failed: it returns without a take.
			deadLetters(q.retire())
			state = mStopped
		case r < 8: // the receiver's next move
			switch state {
			case mTake:
				take()
			case mAsleep:
				select {
				case h := <-q.wake:
					q.woke()
					if h.ok {
						receive([]envelope[int]{h.e})
						state = mHanded
					} else {
						state = mTake
					}
				default:
					if rng.IntN(4) == 0 { // a polled feed woke it instead
						state = mTake
					}
				}
			case mHanded:
				if q.sleepHanded() {
					state = mAsleep
				} else {
					state = mTake
				}
			case mStopped:
				q.resume()
				state = mTake
			}
		case r < 9: // a supervisor restarts it
			if state != mStopped {
				q.stopReceiver()
				if state == mHanded || state == mAsleep && rng.IntN(2) == 0 {
					state = mTake // it looks at once
				}
			}
		default: // it goes on after its current message
		}
		check(step)
	}
	// The end: closed, the receiver takes what it must and returns, or
	// fails on a polled message, its mailbox asleep.
	deadLetters(q.close())
	if state == mAsleep && rng.IntN(2) == 0 {
		deadLetters(q.retire())
		state = mStopped
	}
	for state != mStopped {
		switch state {
		case mAsleep:
			h := <-q.wake // close woke it, or a sender did
			q.woke()
			if h.ok {
				receive([]envelope[int]{h.e})
			}
			state = mTake
		case mHanded:
			state = mTake
		case mTake:
			take()
		}
	}
	for id := range told {
		if !received[id] && !dead[id] {
			t.Fatalf("message %d told and lost", id)
		}
	}
	if got := q.handledCount(); got != handled {
		t.Fatalf("handled count %d, want %d", got, handled)
	}
	if want := int(q.puts/2 + q.hands/2); stamped != want {
		t.Fatalf("%d messages stamped, want %d (%d put in the ring, %d handed over)", stamped, want, q.puts, q.hands)
	}
}
