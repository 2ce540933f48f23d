package actor

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// The hand-over (see queue) step by step, the test playing the receiver.

// qMsgs returns the messages of a batch.
func qMsgs(es []envelope[int]) []int {
	var ms []int
	for _, e := range es {
		ms = append(ms, e.msg)
	}
	return ms
}

// sleepingQueue returns a queue whose receiver has found it empty and sleeps.
func sleepingQueue(t *testing.T, m Mailbox) *queue[int] {
	t.Helper()
	q := newQueue[int](m)
	if batch, done := q.take(nil); len(batch) != 0 || done || !q.sleeping {
		t.Fatalf("take of an empty queue = %v, %v; sleeping %v", batch, done, q.sleeping)
	}
	return q
}

func qPush(t *testing.T, q *queue[int], m int) {
	t.Helper()
	if _, _, err := q.push(context.Background(), envelope[int]{msg: m}, false); err != nil {
		t.Fatalf("push %d: %v", m, err)
	}
}

// The first message told to a sleeping receiver comes with its wake-up, and
// counts as taken; the next go to the ring, after it.
func TestQueueHandsFirstMessageToSleepingReceiver(t *testing.T) {
	q := sleepingQueue(t, Bounded(3))
	qPush(t, q, 1)
	qPush(t, q, 2)
	qPush(t, q, 3)
	if _, _, err := q.push(context.Background(), envelope[int]{msg: 4}, false); !errors.Is(err, ErrMailboxFull) {
		t.Fatalf("push to a mailbox full with the handed message counted = %v", err)
	}
	h := <-q.wake
	if !h.ok || h.e.msg != 1 {
		t.Fatalf("wake-up = %+v, want message 1 handed over", h)
	}
	if batch, done := q.take(nil); done || !slices.Equal(qMsgs(batch), []int{2, 3}) {
		t.Fatalf("take = %v, %v; want [2 3]", qMsgs(batch), done)
	}
}

// A handed message the receiver did not receive from wake (it was woken
// otherwise) is taken first, before what the ring holds.
func TestQueueTakesUnreceivedHandedMessageFirst(t *testing.T) {
	q := sleepingQueue(t, Unbounded())
	qPush(t, q, 1) // handed
	qPush(t, q, 2) // ring
	if batch, _ := q.take(nil); !slices.Equal(qMsgs(batch), []int{1, 2}) {
		t.Fatalf("take = %v, want [1 2]", qMsgs(batch))
	}
	select {
	case h := <-q.wake:
		t.Fatalf("wake-up left after take: %+v", h)
	default:
	}
}

// A stale wake-up pending (a signal the receiver has not received yet) makes
// the hand-over fail: the message goes in the ring, and is not lost.
func TestQueueHandOverFallsBackToRing(t *testing.T) {
	q := sleepingQueue(t, Unbounded())
	q.signal() // stale, as a polled feed's attach sends
	qPush(t, q, 1)
	if h := <-q.wake; h.ok {
		t.Fatalf("wake-up carries %d; want a plain one", h.e.msg)
	}
	if batch, _ := q.take(nil); !slices.Equal(qMsgs(batch), []int{1}) {
		t.Fatalf("take = %v, want [1]", qMsgs(batch))
	}
}

// Close returns a handed message the receiver has not received, with the
// rest, for dead-lettering.
func TestQueueCloseReturnsHandedMessage(t *testing.T) {
	q := sleepingQueue(t, Unbounded())
	qPush(t, q, 1)
	qPush(t, q, 2)
	if left := q.close(); !slices.Equal(qMsgs(left), []int{1, 2}) {
		t.Fatalf("close left %v, want [1 2]", qMsgs(left))
	}
	if h := <-q.wake; h.ok {
		t.Fatalf("wake-up after close carries %d", h.e.msg)
	}
	if _, done := q.take(nil); !done {
		t.Fatal("take after close not done")
	}
}

// After a halt (a restart) no message is handed over until the next
// receiver sleeps: one handed before stays in wake for it, before the ring.
func TestQueueHandedMessageSurvivesHalt(t *testing.T) {
	q := sleepingQueue(t, Unbounded())
	qPush(t, q, 1) // handed
	q.stopReceiver()
	qPush(t, q, 2)
	if q.sleeping {
		t.Fatal("sleeping after stopReceiver")
	}
	if _, done := q.take(nil); !done {
		t.Fatal("take after stopReceiver not done")
	}
	q.resume()
	qPush(t, q, 3)
	if batch, done := q.take(nil); done || !slices.Equal(qMsgs(batch), []int{1, 2, 3}) {
		t.Fatalf("take after resume = %v, %v; want [1 2 3]", qMsgs(batch), done)
	}
}

// A dropping mailbox hands over one message, as it gives one per take.
func TestQueueDroppingHandsOne(t *testing.T) {
	q := sleepingQueue(t, DropOldest(1))
	qPush(t, q, 1) // handed, not counted
	qPush(t, q, 2) // ring
	victim, dropped, err := q.push(context.Background(), envelope[int]{msg: 3}, false)
	if err != nil || !dropped || victim.msg != 2 {
		t.Fatalf("push to a full DropOldest(1) = %v, %v, %v; want 2 dropped", victim.msg, dropped, err)
	}
	if batch, _ := q.take(nil); !slices.Equal(qMsgs(batch), []int{1}) {
		t.Fatalf("take = %v, want [1]", qMsgs(batch))
	}
	if batch, _ := q.take(nil); !slices.Equal(qMsgs(batch), []int{3}) {
		t.Fatalf("take = %v, want [3]", qMsgs(batch))
	}
}
